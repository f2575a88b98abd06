"""`skupix render`: render local files for a platform or profile without uploading, with verdicts.

The same code the workers run (processing.render.render_many: one decode, every profile derived from
it), then the compliance report of each output; nothing touches the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from processing.compliance import check_rendered, refused
from processing.decode import DecodeLimits
from processing.errors import ImageError
from processing.profiles import Catalog, Profile, is_tenant_name
from processing.render import RenderedVariant, render_many


@dataclass(frozen=True)
class Outcome:
    """One file and profile: where the output went (if produced) and the compliance verdict."""

    file: str
    profile: str
    verdict: str
    output: str | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    problems: tuple[str, ...] = ()


@dataclass
class FileResult:
    """Everything rendered from one file, or why the file itself could not be read."""

    file: str
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None


def profiles_for(catalog: Catalog, platform: str | None, names: list[str]) -> list[Profile]:
    """The profiles a platform uses (each once, in slot order) or the ones named; ValueError if unknown."""
    if platform is not None:
        if is_tenant_name(platform):  # a tenant's platform lives on the server; a local render has none
            raise ValueError(f"{platform!r} is a tenant platform: local renders use the built-in platforms; "
                             "use `skupix pull --platform` against the server, or --profile with built-ins")
        if platform not in catalog.platforms:
            raise ValueError(f"unknown platform {platform!r}; known: {', '.join(sorted(catalog.platforms))}")
        return [catalog.profile(name) for name in dict.fromkeys(catalog.platforms[platform].values())]
    unknown = [name for name in names if name not in catalog.profiles]
    if unknown:
        raise ValueError(f"unknown profile(s): {', '.join(unknown)}; known: {', '.join(sorted(catalog.profiles))}")
    return [catalog.profile(name) for name in dict.fromkeys(names)]


def render_file(path: Path, profiles: list[Profile], limits: DecodeLimits, out: Path) -> FileResult:
    """Render one file for every profile into `out` as <stem>.<profile>.<ext>; never raises for bad input."""
    result = FileResult(file=str(path))
    try:
        data = path.read_bytes()
        rendered = render_many(data, limits, profiles)
    except ImageError as exc:
        result.error = f"{exc.code}: {exc.message}"
        return result
    except OSError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    for profile in profiles:
        variant = rendered[profile.name]
        if not isinstance(variant, RenderedVariant):
            report = refused(profile, variant)
            result.outcomes.append(Outcome(str(path), profile.name, report.verdict.value,
                                           problems=(variant.message,)))
            continue
        report = check_rendered(profile, variant)
        target = out / f"{path.stem}.{profile.name}.{profile.extension}"
        target.write_bytes(variant.data)
        problems = tuple(f"{c.name}: {c.value} (wants {c.rule})" for c in report.checks if c.verdict.value != "pass")
        result.outcomes.append(Outcome(str(path), profile.name, report.verdict.value, str(target), variant.width,
                                       variant.height, len(variant.data), problems))
    return result
