"""Pure decisions about incoming messages: category, language and personal-data entities."""

from routing.classify import CATEGORIES, Classification, Hints, KeywordRule, classify
from routing.entities import Entity, mask_text, mask_value

__all__ = [
    "CATEGORIES",
    "Classification",
    "Entity",
    "Hints",
    "KeywordRule",
    "classify",
    "mask_text",
    "mask_value",
]
