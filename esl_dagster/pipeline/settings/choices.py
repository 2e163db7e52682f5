"""How a setting that names one of a few choices is read: trimmed, in lower case, an alias
replaced by the name it stands for."""

from collections.abc import Mapping


def normalised_choice(value: object, aliases: Mapping[str, str] | None = None) -> object:
    """``value`` as a choice when it is a string; anything else is left to the field's own
    validation."""
    if not isinstance(value, str):
        return value
    lowered = value.strip().lower()
    return (aliases or {}).get(lowered, lowered)
