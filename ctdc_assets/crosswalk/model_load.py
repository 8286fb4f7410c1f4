"""Load crosswalk files: YAML read strictly, errors located by file, line and key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ctdc_assets.crosswalk.model import Crosswalk
from ctdc_assets.crosswalk.model_base import CrosswalkError


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.2-like scalars: only true/false are booleans (`no`, `yes`, `NA` and `on`
    stay text) and dates stay text until the schema parses them. A key given twice
    in one mapping is an error (YAML would silently keep the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_YamlLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_crosswalk(path: Path) -> Crosswalk:
    """One crosswalk file; errors name the file, the line and the key."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_YamlLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CrosswalkError(f"{path}: cannot read crosswalk: {exc}") from exc
    if not isinstance(data, dict):
        raise CrosswalkError(f"{path}: a crosswalk is a mapping of keys (read, variables, ...)")
    if "name" in data and data["name"] != path.stem:
        raise CrosswalkError(
            f"{path}, line {_line_of(text, ('name',))}: name: {data['name']!r} differs from "
            "the file name; the name is the file stem, remove the key"
        )
    try:
        return Crosswalk.model_validate({**data, "name": path.stem})
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            for msg in err["msg"].removeprefix("Value error, ").splitlines():
                key = None if loc else re.match(r"([\w.-]+): ", msg)  # a whole-file check
                where, said = (key.group(1), msg[key.end() :]) if key else (loc, msg)
                line = _line_of(text, tuple(where.split("."))) if where else None
                at = f"line {line}: " if line else ""
                lines.append(f"  {at}{where}: {said}" if where else f"  {said}")
        raise CrosswalkError(f"{path}: invalid crosswalk:\n" + "\n".join(lines)) from None


def _line_of(text: str, loc: tuple[str, ...]) -> int | None:
    """The line (1-based) of the deepest key of `loc` that the YAML text holds."""
    node = yaml.compose(text, Loader=_YamlLoader)
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        match = next((kv for kv in node.value if str(kv[0].value) == part), None)
        if match is None:
            break
        line = match[0].start_mark.line + 1
        node = match[1]
    return line


def load_crosswalks(
    directory: Path, *, broken: dict[str, CrosswalkError] | None = None
) -> dict[str, Crosswalk]:
    """Every `*.yaml` crosswalk in a folder, by contributor name (the file stem).

    With `broken`, a file that does not load is put there (by name) instead of raising:
    the code location loads with the others and shows the error on that contributor.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CrosswalkError(f"{directory}: crosswalk folder not found")
    crosswalks = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            crosswalks[path.stem] = load_crosswalk(path)
        except CrosswalkError as error:
            if broken is None:
                raise
            broken[path.stem] = error
    return crosswalks
