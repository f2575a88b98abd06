"""The lifecycle tenant profiles and tenant platforms share: define, add a version, publish, retire, see.

Both are named `namespace~name` in their owner's namespace (processing/profiles.py says why); each is its owner's
until published, then every tenant's (one way: others may build on it). Each change is a new immutable version;
retiring stops new use. A kind (registry/profiles, registry/platforms) brings its repository, record and version
rows, and checks its own content; docs/profiles.md describes the rules.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from processing.profiles import NAMESPACE_PATTERN, TENANT_NAME_PATTERN, TENANT_SEPARATOR, is_tenant_name
from registry.definitions.record import DefinitionRecord
from registry.definitions.repository import DefinitionRepository
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.ids import new_id
from registry.models import DefinitionVersion, ProfileNamespace, TenantDefinition, utcnow
from registry.profiles.repository import ProfileRepository
from registry.tenants.service import Permission, Principal

if TYPE_CHECKING:
    from registry.runtime import Runtime

RowT = TypeVar("RowT", bound=TenantDefinition)
VersionT = TypeVar("VersionT", bound=DefinitionVersion)
RecordT = TypeVar("RecordT", bound=DefinitionRecord[Any])
ContentT = TypeVar("ContentT")

MAX_DISPLAY_NAME = 200
MAX_VERSIONS = 100  # old variant URLs are resolved against every profile version: the list stays short

# a new version's content, checked: given the session, the definition's full name and whether it is published
Check = Callable[[Session, str, bool], ContentT]


def require_manager(principal: Principal) -> None:
    """Forbidden unless the key's tenant may define profiles and platforms (brands and platforms)."""
    if not principal.can(Permission.MANAGE_PROFILES):
        raise Forbidden("only brand and platform keys define their own profiles and platforms; merchants use the "
                        "built-in and published ones")


def clean_text(value: str, field: str, limit: int) -> str:
    """`value` NFC-normalised and stripped; InvalidInput when longer than `limit` or holding control characters."""
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit or any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise InvalidInput(f"{field} has at most {limit} printable characters", field=field)
    return text


def claim_namespace(repository: ProfileRepository, principal: Principal, wanted: str | None) -> str:
    """The caller's namespace (its profiles' and platforms'): the one it holds, else `wanted` or one made from
    its name, claimed now."""
    held = repository.namespace_of(principal.tenant_id)
    if held is not None:
        if wanted is not None and wanted != held:
            raise Conflict(f"your profiles live in namespace {held!r}; it cannot change", field="namespace")
        return held
    if wanted is not None:
        if not NAMESPACE_PATTERN.fullmatch(wanted):
            raise InvalidInput("a namespace has 2-20 characters: a-z, 0-9 and '-', starting with a letter or digit",
                               field="namespace")
        if repository.namespace_taken(wanted):
            raise Conflict(f"namespace {wanted!r} is taken", field="namespace")
        chosen = wanted
    else:
        folded = unicodedata.normalize("NFKD", principal.tenant_name).encode("ascii", "ignore").decode().lower()
        slug = "-".join("".join(ch if ch.isalnum() else " " for ch in folded).split())[:20].strip("-")
        chosen = slug if NAMESPACE_PATTERN.fullmatch(slug) and not repository.namespace_taken(slug) else ""
        # a name with no Latin letters (e.g. 旗舰店) or one already taken gets a random namespace
        while not chosen or repository.namespace_taken(chosen):
            chosen = "t" + secrets.token_hex(4)
    repository.add(ProfileNamespace(tenant_id=principal.tenant_id, namespace=chosen))
    return chosen


def full_name(namespace: str, name: str, kind: str = "profile") -> str:
    """`namespace~name` for a NAME or NAMESPACE~NAME the caller gave; InvalidInput for another namespace."""
    short = name.partition(TENANT_SEPARATOR)[2] if TENANT_SEPARATOR in name else name
    if TENANT_SEPARATOR in name and name.partition(TENANT_SEPARATOR)[0] != namespace:
        raise InvalidInput(f"your {kind}s are named {namespace}~NAME", field="name")
    if not TENANT_NAME_PATTERN.fullmatch(short):
        raise InvalidInput(f"a {kind} name has 1-39 characters: a-z, 0-9, '_' and '-', starting with a letter or "
                           "digit", field="name")
    return f"{namespace}{TENANT_SEPARATOR}{short}"


def _nothing_cached(rt: Runtime, name: str) -> None:
    """The `forget` of a kind this process does not cache."""


@dataclass(frozen=True)
class Lifecycle(Generic[RowT, VersionT, RecordT, ContentT]):
    """The use cases of one kind of tenant definition; each returns the definition's record after the change."""

    kind: str  # "profile" or "platform": in messages, name rules and error fields
    id_prefix: str
    repository: Callable[[Session], DefinitionRepository[RowT, VersionT]]
    record: Callable[[RowT, list[VersionT]], RecordT]
    version: Callable[[str, int, ContentT], VersionT]  # a version row of (definition id, number, checked content)
    forget: Callable[[Runtime, str], None] = _nothing_cached  # drop this process's cached copy of a changed name

    def hidden(self, name: str) -> NotFound:
        """The one answer for a definition that does not exist and one the caller may not see (no disclosure)."""
        return NotFound(f"no {self.kind} {name!r}", field=self.kind)

    def create(self, rt: Runtime, principal: Principal, name: str, check: Check[ContentT], display_name: str,
               namespace: str | None) -> RecordT:
        """Define a new one (version 1) in the caller's namespace."""
        require_manager(principal)
        display = clean_text(display_name, "display_name", MAX_DISPLAY_NAME)
        try:
            with rt.db.unit_of_work() as session:
                full = full_name(claim_namespace(ProfileRepository(session), principal, namespace), name, self.kind)
                content = check(session, full, False)
                repository = self.repository(session)
                if repository.get(full) is not None:
                    raise Conflict(f"{self.kind} {full!r} exists; add a version to change it", field="name")
                now = utcnow()
                row = repository.row(id=new_id(self.id_prefix), name=full, tenant_id=principal.tenant_id,
                                     display_name=display or full.partition(TENANT_SEPARATOR)[2], current_version=1,
                                     created_at=now, updated_at=now)
                repository.add(row)
                version = self.version(row.id, 1, content)
                repository.add(version)
                record = self.record(row, [version])
        except IntegrityError as exc:  # the same name or namespace claimed by a concurrent request
            raise Conflict(f"this {self.kind} or namespace was just created by another request",
                           field="name") from exc
        self.forget(rt, full)
        return record

    def add_version(self, rt: Runtime, principal: Principal, name: str, check: Check[ContentT],
                    display_name: str | None) -> RecordT:
        """New content becomes the current version; older ones stay for what was made from them."""
        require_manager(principal)
        display = clean_text(display_name, "display_name", MAX_DISPLAY_NAME) if display_name is not None else None
        try:
            with rt.db.unit_of_work() as session:
                repository = self.repository(session)
                row = self._own(repository, principal, name)
                if row.retired_at is not None:
                    raise Conflict(f"{self.kind} {name!r} is retired; define a new {self.kind} instead", field="name")
                if row.current_version >= MAX_VERSIONS:
                    raise Conflict(f"a {self.kind} has at most {MAX_VERSIONS} versions; define a new {self.kind}",
                                   field="name")
                content = check(session, row.name, row.published_at is not None)
                number = row.current_version + 1
                repository.add(self.version(row.id, number, content))
                row.current_version, row.updated_at = number, utcnow()
                if display:
                    row.display_name = display
                session.flush()
                record = self.record(row, repository.versions(row.id))
        except IntegrityError as exc:  # two new versions at once: the second must re-read and retry
            raise Conflict(f"another version was added at the same moment; read the {self.kind} and retry",
                           field="name") from exc
        self.forget(rt, record.name)
        return record

    def publish(self, rt: Runtime, principal: Principal, name: str,
                ready: Callable[[Session, RecordT], None] | None = None) -> RecordT:
        """Every tenant may now see and use it (for good), once `ready` passes its record. Publishing twice is one."""
        require_manager(principal)
        with rt.db.unit_of_work() as session:
            repository = self.repository(session)
            row = self._own(repository, principal, name)
            if row.published_at is None:
                if row.retired_at is not None:
                    raise Conflict(f"{self.kind} {name!r} is retired; a retired {self.kind} is not published",
                                   field="name")
                if ready is not None:
                    ready(session, self.record(row, repository.versions(row.id)))
                row.published_at = row.updated_at = utcnow()
                session.flush()
            record = self.record(row, repository.versions(row.id))
        self.forget(rt, record.name)
        return record

    def retire(self, rt: Runtime, principal: Principal, name: str) -> RecordT:
        """It serves nothing new; what was made from it stays. Retiring twice is one."""
        require_manager(principal)
        with rt.db.unit_of_work() as session:
            repository = self.repository(session)
            row = self._own(repository, principal, name)
            if row.retired_at is None:
                row.retired_at = row.updated_at = utcnow()
                session.flush()
            record = self.record(row, repository.versions(row.id))
        self.forget(rt, record.name)
        return record

    def listed(self, rt: Runtime, tenant_id: str | None) -> list[RecordT]:
        """The caller's own (retired ones too) and every published one in use, by name."""
        with rt.db.read_only() as session:
            repository = self.repository(session)
            return [self.record(row, repository.versions(row.id)) for row in repository.listed(tenant_id)]

    def read(self, rt: Runtime, name: str) -> RecordT | None:
        """The record called `name`, visible or not; None for a name that is not a tenant's or not defined."""
        if not is_tenant_name(name):
            return None
        with rt.db.read_only() as session:
            repository = self.repository(session)
            row = repository.get(name)
            return self.record(row, repository.versions(row.id)) if row is not None else None

    def visible(self, record: RecordT | None, tenant_id: str | None, name: str) -> RecordT:
        """`record` when the caller may see it; the NotFound of a missing name otherwise."""
        if record is None or not record.visible_to(tenant_id):
            raise self.hidden(name)
        return record

    def _own(self, repository: DefinitionRepository[RowT, VersionT], principal: Principal, name: str) -> RowT:
        row = repository.get(name) if is_tenant_name(name) else None
        if row is None or row.tenant_id != principal.tenant_id:
            raise self.hidden(name)
        return row
