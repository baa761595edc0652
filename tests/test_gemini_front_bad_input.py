"""Bad Gemini request bodies: each is a 400 naming the field, and no damaged body is ever anything else.

The table is written after the Gemini API reference; the property test damages Gemini CLI's real
requests, the recorded google-genai requests and one body that holds every part, tool and setting the
decoder reads (tests/json_mutations.py), then decodes and encodes them for every upstream dialect.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings

from droid2api.dialects import BY_NAME
from droid2api.dialects.gemini import count_tokens_request, decode_request
from droid2api.errors import GatewayError

from . import hypothesis_profiles  # noqa: F401  (loads the profile before any @given runs)
from .helpers import convert_everywhere
from .json_mutations import damaged_bodies
from .test_gemini_front_request import FIRST, FOLLOW_UP, RECORDED_REQUESTS, USER, answer, call, encode


# -- bad input --------------------------------------------------------------------------------------------------


def parts(*items) -> dict:
    return {"contents": [{"role": "user", "parts": list(items)}]}


def function(**declaration) -> dict:
    return {"contents": [USER], "tools": [{"functionDeclarations": [{"name": "f", **declaration}]}]}


def config(**settings) -> dict:
    return {"contents": [USER], "generationConfig": settings}


BAD = [
    ({}, "contents"),
    ({"contents": []}, "contents"),
    ({"contents": "hi"}, "contents"),
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({"contents": [{"role": "user", "parts": []}]}, "contents[0].parts"),
    ({"contents": [{"role": "user"}]}, "contents[0].parts"),
    (parts({}), "contents[0].parts[0]"),
    (parts("hi"), "contents[0].parts[0]"),
    (parts({"text": 5}), "contents[0].parts[0].text"),
    (parts({"text": "a", "inlineData": {"mimeType": "image/png", "data": "AA=="}}), "contents[0].parts[0]"),
    (parts({"inlineData": {"mimeType": "image/png"}}), "contents[0].parts[0].inlineData.data"),
    (parts({"inlineData": {"mimeType": "image/png", "data": ""}}), "contents[0].parts[0].inlineData.data"),
    (parts({"inline_data": {"data": "AA=="}}), "contents[0].parts[0].inlineData.mimeType"),
    (parts({"fileData": {"mimeType": "image/png"}}), "contents[0].parts[0].fileData.fileUri"),
    (parts({"text": "a", "thoughtSignature": 5}), "contents[0].parts[0].thoughtSignature"),
    (parts({"text": "a", "thought": "maybe"}), "contents[0].parts[0].thought"),
    (parts({"functionCall": {"args": {}}}), "contents[0].parts[0].functionCall.name"),
    (parts({"functionCall": {"name": "f", "args": "{}"}}), "contents[0].parts[0].functionCall.args"),
    (parts({"functionResponse": {"name": "f", "response": ["x"], "id": "c"}}),
     "contents[0].parts[0].functionResponse.response"),
    (parts({"functionResponse": {"name": "f", "response": {}, "id": "c", "parts": [{}]}}),
     "contents[0].parts[0].functionResponse.parts[0]"),
    ({"contents": [USER], "systemInstruction": 5}, "systemInstruction"),
    ({"contents": [USER], "systemInstruction": {"parts": [{"text": 1}]}}, "systemInstruction.parts[0].text"),
    ({"contents": [USER], "tools": {"functionDeclarations": []}}, "tools"),
    (function(name=""), "tools[0].functionDeclarations[0].name"),
    (function(parameters={"type": "OBJECT", "properties": {"x": {"type": "STRANGE"}}}),
     "tools[0].functionDeclarations[0].parameters.properties.x.type"),
    (function(parameters={"type": "OBJECT", "properties": ["x"]}),
     "tools[0].functionDeclarations[0].parameters.properties"),
    (function(parameters={"type": "OBJECT"}, parametersJsonSchema={"type": "object"}),
     "tools[0].functionDeclarations[0].parametersJsonSchema"),
    (function(parametersJsonSchema="object"), "tools[0].functionDeclarations[0].parametersJsonSchema"),
    ({"contents": [USER], "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}},
     "toolConfig.functionCallingConfig.mode"),
    ({"contents": [USER], "toolConfig": {"functionCallingConfig": {"allowedFunctionNames": "f"}}},
     "toolConfig.functionCallingConfig.allowedFunctionNames"),
    (config(candidateCount=2), "generationConfig.candidateCount"),
    ({"contents": [USER], "generation_config": {"candidate_count": 3}}, "generationConfig.candidateCount"),
    (config(temperature=3), "generationConfig.temperature"),
    (config(topP="high"), "generationConfig.topP"),
    (config(topK=1.5), "generationConfig.topK"),
    (config(maxOutputTokens="10"), "generationConfig.maxOutputTokens"),
    (config(maxOutputTokens=0), "generationConfig.maxOutputTokens"),
    (config(stopSequences=[1]), "generationConfig.stopSequences[0]"),
    (config(seed=1.5), "generationConfig.seed"),
    (config(responseSchema={"type": 5}), "generationConfig.responseSchema.type"),
    (config(responseSchema={"type": "OBJECT"}, responseJsonSchema={"type": "object"}),
     "generationConfig.responseJsonSchema"),
    (config(thinkingConfig={"thinkingBudget": -5}), "generationConfig.thinkingConfig.thinkingBudget"),
    (config(thinkingConfig={"thinkingLevel": "ULTRA"}), "generationConfig.thinkingConfig.thinkingLevel"),
    (config(thinkingConfig={"includeThoughts": "maybe"}), "generationConfig.thinkingConfig.includeThoughts"),
    ({"contents": [USER], "cachedContent": "cachedContents/abc"}, "cachedContent"),
    ({"contents": [USER], "safetySettings": "none"}, "safetySettings"),
]


@pytest.mark.parametrize("body, param", BAD, ids=[param for _, param in BAD])
def test_bad_input_is_a_400_naming_the_field(body, param):
    with pytest.raises(GatewayError) as caught:
        decode_request(body, "m", False)
    assert (caught.value.status, caught.value.param) == (400, param)
    assert param in caught.value.message


def test_a_body_that_is_no_object_is_a_400():
    for body in (None, [], "x", 5):
        with pytest.raises(GatewayError) as caught:
            decode_request(body, "m", False)
        assert caught.value.status == 400


RICH = {  # every part, tool and setting the decoder reads, in one conversation
    "contents": [
        {"role": "user", "parts": [{"text": "Look at this."},
                                   {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                                   {"fileData": {"mimeType": "image/png", "fileUri": "gs://b/x.png"}}]},
        {"role": "model", "parts": [{"text": "Hmm.", "thought": True}, call("look", {"x": 1}),
                                    {"functionCall": {"name": "look", "args": {"x": 2}, "id": "c2"},
                                     "thoughtSignature": "c2ln"},
                                    {"executableCode": {"language": "PYTHON", "code": "1"}}]},
        {"role": "user", "parts": [answer("look", {"output": "one"}),
                                   answer("look", {"error": "two"}, id="c2")]},
    ],
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "tools": [{"functionDeclarations": [{"name": "look", "description": "Look.", "parameters": {
        "type": "OBJECT", "properties": {"x": {"type": "INTEGER", "nullable": True, "enum": ["1", "2"]}},
        "required": ["x"]}}]}, {"googleSearch": {}}, {"codeExecution": {}}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["look"]}},
    "generationConfig": {"temperature": 0.5, "topP": 0.9, "topK": 40, "maxOutputTokens": 300,
                         "stopSequences": ["END"], "seed": 7, "responseMimeType": "application/json",
                         "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
                         "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}},
    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
}
SEEDS = [RICH, FIRST, FOLLOW_UP, *(json.loads(path.read_text()) for path in RECORDED_REQUESTS)]


def test_the_rich_body_converts_everywhere():
    request = decode_request(RICH, "m", False)
    assert len(request.messages) == 3 and len(request.tools) == 2
    for dialect in BY_NAME:
        encode(request, dialect)


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=damaged_bodies(SEEDS, ["m"]))
def test_no_damaged_body_raises_anything_but_a_400(raw):
    convert_everywhere(lambda body: decode_request(body, "m", True), raw)
    convert_everywhere(lambda body: count_tokens_request({"generateContentRequest": body}, "m"), raw)
