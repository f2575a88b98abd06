"""What the profile and platform routes share: the name in their paths and the fields of their bodies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

# `namespace~name` or a built-in's name; the registry checks the exact shape
NameParam = Annotated[str, Path(min_length=1, max_length=80)]


class DefinitionCreate(BaseModel):
    """The fields every new profile or platform has; each adds its namespace's wording and its content."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, description="NAME or NAMESPACE~NAME (a-z, 0-9, '_', '-')")
    display_name: str = Field("", max_length=1000, description="any UTF-8 text; the name when empty")


class DefinitionVersionCreate(BaseModel):
    """The fields every next version of a profile or platform has; each adds its content."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(None, max_length=1000)
