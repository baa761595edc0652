"""The content parts of Chat Completions messages (text, image_url, file, refusal) as IR parts, with marshmallow."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate, validates_schema

from ... import ir
from ..media import parse_data_url


class Part(Schema):
    """A content part: an object whose `type` the Tagged field has already checked."""

    class Meta:
        unknown = EXCLUDE

    type = fields.String(required=True)


class TextPart(Part):
    text = fields.String(required=True)
    cache_control = fields.Dict()

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Text(data["text"], cache_control=data.get("cache_control"))


class ImageUrl(Schema):
    class Meta:
        unknown = EXCLUDE

    url = fields.String(required=True, validate=validate.Length(min=1, error="must not be empty"))
    detail = fields.String(validate=validate.OneOf(("auto", "low", "high"), error="must be one of {choices}"))


class ImagePart(Part):
    image_url = fields.Nested(ImageUrl, required=True)
    cache_control = fields.Dict()

    @post_load
    def _ir(self, data, **kwargs):
        return image(data["image_url"]["url"], data["image_url"].get("detail"), data.get("cache_control"))


def image(url: str, detail=None, cache_control=None) -> ir.Image:
    """A data: URL becomes inline base64; anything else stays a URL (the gateway never fetches it)."""
    if url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if encoding != "base64" or not payload:
            raise ValidationError({"image_url": {"url": ["a data: URL must be base64 (data:<type>;base64,...)"]}})
        return ir.Image(data=payload, media_type=media_type or "image/png", detail=detail, cache_control=cache_control)
    return ir.Image(url=url, detail=detail, cache_control=cache_control)


class RefusalPart(Part):
    refusal = fields.String(required=True)

    @post_load
    def _ir(self, data, **kwargs):
        return ir.Refusal(data["refusal"])


class FileData(Schema):
    class Meta:
        unknown = EXCLUDE

    filename = fields.String()
    file_data = fields.String()
    file_id = fields.String()

    @validates_schema
    def _inline(self, data, **kwargs):
        if "file_id" in data and "file_data" not in data:
            raise ValidationError("file_id names a file uploaded to OpenAI; the gateway has no files API, so send "
                                  "the file inline as file_data (a base64 data: URL)", "file_id")
        if parse_data_url(data.get("file_data", "")) is None:
            raise ValidationError("must be a base64 data: URL (data:application/pdf;base64,...)", "file_data")


class FilePart(Part):
    """OpenAI's ``file`` content part: a PDF inline as a data: URL."""

    file = fields.Nested(FileData, required=True)
    cache_control = fields.Dict()

    @post_load
    def _ir(self, data, **kwargs):
        media_type, payload = parse_data_url(data["file"]["file_data"])
        title = data["file"].get("filename")
        return ir.Document(data=payload, media_type=media_type, title=title, cache_control=data.get("cache_control"))


TEXT = {"text": TextPart()}
TEXT_AND_IMAGES = {"text": TextPart(), "image_url": ImagePart(), "file": FilePart()}
