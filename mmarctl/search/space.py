"""Clara's AutoML annotations read into a search space: what is searched, and where each
searched value lands in the config.

The syntax (Clara Train 3.1, the same in 4.x files)::

    "search": [{"domain": "lr", "type": "float", "args": ["learning_rate"],
                "targets": [1e-4, 1e-3]}]                      top level: globals and tags
    "lr_policy": {"name": "...", "args": {...},
                  "search": [{"type": "enum", "args": ["step_size"],
                              "targets": [[5000], [1000]]}]}  component level: its args
    "args": ["prob#myProb"]            a searched arg that other components share ...
    "apply": {"prob": "myProb"}        ... as the alias myProb
    "apply": {"@disabled": "myTag"}    the component is disabled when the tag myTag is true
    "args": ["@disabled"]              (component level) the component itself on or off
    "args": ["@myTag"] or ["myTag"]    (top level) the value of a tag
    "loss": [{...Dice..., "apply": {"@disabled": "t1"}}, {...Focal..., "apply": {...}}]
                                       a one-component section written as alternatives

A *dimension* is one ``search`` entry: an ``enum`` picks one of its ``targets`` (a tuple of
values, one per arg), a ``float`` draws one number in ``[low, high]`` for its single arg.
Each arg is *bound* to the places its value lands: a global, a component's arg, a
component's ``disabled``. Plain JSON work: no TensorFlow, so ``check`` uses it.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mmarctl.catalog import SECTION_FAMILIES
from mmarctl.problems import Problem
from mmarctl.jsonio import format_json_path
from mmarctl.variables import is_disabled

TYPES = ("enum", "float")
DOMAINS = ("lr", "net", "transform")
DISABLED = "@disabled"

#: Sections that hold one component (a list there is a set of AutoML alternatives).
SINGLE_SECTIONS = frozenset({
    path for (_, path), family in SECTION_FAMILIES.items()
    if family in ("losses", "optimizers", "lr_policies", "networks", "pipelines", "inferers",
                  "model_loaders")})


@dataclass(frozen=True)
class Place:
    """Where a searched value lands.

    Attributes:
        kind: ``global`` (a top-level key), ``arg`` (a component's argument) or
            ``disabled`` (a component's ``disabled`` flag).
        path: the JSON path of the component as a tuple of keys and indexes (empty for a global).
        name: the global's or the argument's name (``disabled`` for the flag).
    """

    kind: str
    path: tuple = ()
    name: str = ""

    def __str__(self) -> str:
        if self.kind == "global":
            return self.name
        where = format_json_path(self.path)
        return f"{where}.disabled" if self.kind == "disabled" else f"{where}.args.{self.name}"


@dataclass(frozen=True)
class Dimension:
    """One ``search`` entry.

    Attributes:
        key: a stable, unique name (the parameter's name in the study).
        type: ``enum`` or ``float``.
        domain: Clara's ``domain`` (``lr``, ``net``, ``transform``), recorded only.
        args: the args as written.
        places: for each arg, the places its value lands.
        targets: enum: the value tuples; float: ``(low, high)``.
        json_path: where the entry is written, for messages.
        labels: one readable name per arg (``learning_rate``, ``myProb``,
            ``RandGaussianNoised.disabled``), what results and leaderboards show.
    """

    key: str
    type: str
    domain: str | None
    args: tuple[str, ...]
    places: tuple[tuple[Place, ...], ...]
    targets: tuple
    json_path: str
    labels: tuple[str, ...] = ()

    def values(self, choice: Any) -> tuple:
        """The arg values for a choice: an enum's target index, or a float's number."""
        if self.type == "enum":
            return tuple(self.targets[int(choice)])
        return (float(choice),)

    def describe(self, choice: Any) -> dict[str, Any]:
        """``{arg label: value}`` for a choice (what results and leaderboards show)."""
        return dict(zip(self.labels, self.values(choice)))


@dataclass
class SearchSpace:
    """Every dimension of one config, and the alternative lists they choose from.

    Attributes:
        dimensions: in the order written (top level first, then components in file order).
        alternatives: JSON paths (tuples) of one-component sections written as lists.
        problems: what is wrong with the annotations (empty when the space is usable).
    """

    dimensions: list[Dimension] = field(default_factory=list)
    alternatives: list[tuple] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: The config file as messages show it.
    file: str = ""

    @property
    def is_empty(self) -> bool:
        """True when nothing is searched."""
        return not self.dimensions

    @property
    def enum_only(self) -> bool:
        """True when every dimension is an enum (the space can be searched exhaustively)."""
        return bool(self.dimensions) and all(d.type == "enum" for d in self.dimensions)

    def combinations(self) -> int:
        """How many points an enum-only space has."""
        return math.prod(len(d.targets) for d in self.dimensions if d.type == "enum")

    def grid(self) -> Iterator[dict[str, int]]:
        """Every point of an enum-only space, as ``{key: target index}``, first target first."""
        import itertools

        enums = [d for d in self.dimensions if d.type == "enum"]
        for indexes in itertools.product(*(range(len(d.targets)) for d in enums)):
            yield {d.key: i for d, i in zip(enums, indexes)}

    def describe(self, point: dict[str, Any]) -> dict[str, Any]:
        """``{arg label: value}`` of a point, over every dimension."""
        described: dict[str, Any] = {}
        for dimension in self.dimensions:
            if dimension.key in point:
                described.update(dimension.describe(point[dimension.key]))
        return described

    def spanning_points(self) -> list[dict[str, Any]]:
        """A few points that between them use every enum target and both float bounds:
        what ``check`` resolves and checks, so that every value a search can write is seen."""
        count = max([len(d.targets) if d.type == "enum" else 2 for d in self.dimensions],
                    default=0)
        points = []
        for i in range(count):
            point: dict[str, Any] = {}
            for dimension in self.dimensions:
                if dimension.type == "enum":
                    point[dimension.key] = i % len(dimension.targets)
                else:
                    point[dimension.key] = dimension.targets[i % 2]
            points.append(point)
        return points


def set_conflicts(space: SearchSpace, overrides: dict[str, Any]) -> list[Problem]:
    """One problem per ``--set`` key that is a global a search writes: the trial would train
    the ``--set`` value while results and provenance report the drawn one (every trial the
    same run under a different label). Clara applied the search point last; mmarctl refuses."""
    problems = []
    for dimension in space.dimensions:
        for place in (p for places in dimension.places for p in places):
            if place.kind == "global" and place.name in overrides:
                value = overrides[place.name]
                shown = value if isinstance(value, str) else json.dumps(value)
                problems.append(Problem(
                    space.file, dimension.json_path,
                    f"--set {place.name}={shown}: {place.name} is searched here; leave it "
                    "out of --set or remove the search entry"))
    return problems


def at_search_target(space: SearchSpace, point: dict[str, Any], problem: Problem) -> Problem:
    """``problem``, found in the concrete config of ``point``, re-addressed to the search
    target that wrote the value: ``train.model.search[0].targets[1]`` and "at the search
    point nf_enc="4,8,8,8,8,8,8"" rather than the concrete path (which holds a valid value
    in the file) or a bare global's name. A problem no searched value touches (its path is
    neither inside nor above a place the point writes) is returned as it is.

    Meant for the problems that a point's concrete config has and the config as written
    does not (those are the file's own, at their own path).
    """
    for dimension in space.dimensions:
        if dimension.key not in point:
            continue
        choice = point[dimension.key]
        for index, places in enumerate(dimension.places):
            if not any(_related(problem.json_path, str(place)) for place in places):
                continue
            if dimension.type == "enum":
                target = f"{dimension.json_path}.targets[{int(choice)}]"
            else:
                bounds = list(dimension.targets)
                which = bounds.index(float(choice)) if float(choice) in bounds else None
                target = f"{dimension.json_path}.targets" + (
                    f"[{which}]" if which is not None else "")
            value = dimension.values(choice)[index]
            label = dimension.labels[index] if index < len(dimension.labels) else \
                dimension.args[index]
            return Problem(problem.file, target,
                           f"{problem.message} (at the search point {label}="
                           f"{json.dumps(value)})", problem.severity)
    return problem


def at_search_point(space: SearchSpace, point: dict[str, Any], problem: Problem) -> Problem:
    """:func:`at_search_target`, and for a problem no searched value touches directly (a
    crop that reads two fields one search point resampled apart) the point's values added
    to its message, so the line says which point of the search it comes from."""
    moved = at_search_target(space, point, problem)
    if moved is not problem:
        return moved
    values = ", ".join(f"{label}={json.dumps(value)}"
                       for label, value in space.describe(point).items())
    return Problem(problem.file, problem.json_path,
                   f"{problem.message} (at the search point {values})", problem.severity)


def _related(json_path: str, place: str) -> bool:
    """Whether a problem at ``json_path`` is about the value at ``place``: the same path, a
    path inside it, or the component (or section) that holds it."""
    if not json_path:
        return False
    for inner, outer in ((json_path, place), (place, json_path)):
        if inner == outer or inner.startswith((outer + ".", outer + "[")):
            return True
    return False


def has_annotations(config: Any) -> bool:
    """Whether a config holds any ``search``/``apply`` entry or a list of alternatives."""
    if not isinstance(config, dict):
        return False
    return ("search" in config or bool(_alternative_lists(config))
            or any("search" in spec or "apply" in spec for _, spec in _components(config)))


def read_space(config: dict, file: str) -> SearchSpace:
    """Read the annotations of ``config`` (the JSON as written) into a :class:`SearchSpace`.

    Problems (file, JSON path, message, did-you-mean) are collected in ``space.problems``;
    dimensions with a problem are left out.
    """
    return _Reader(config, file).read()


# -- walking the config --------------------------------------------------------------------
def _get(config: Any, path: tuple) -> Any:
    for key in path:
        try:
            config = config[key]
        except (KeyError, IndexError, TypeError):
            return None
    return config


def _section_paths() -> list[tuple]:
    return sorted({tuple(path.split(".")) for (_, path) in SECTION_FAMILIES})


def _components(config: dict) -> Iterator[tuple[tuple, dict]]:
    """``(path, component)`` for every component object anywhere in the config, in file
    order (sections mmarctl knows and any other, e.g. Clara 4's ``lr_scheduler``).
    Iterative: a config nested thousands of levels deep must not overflow the stack."""
    stack: list[tuple[tuple, Any]] = [((), config)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            if path and ("name" in value or "path" in value or "ref" in value):
                yield path, value
            children = [(path + (key,), child) for key, child in value.items()
                        if key not in ("search", "apply", "args")]
        elif isinstance(value, list):
            children = [(path + (index,), child) for index, child in enumerate(value)]
        else:
            continue
        stack.extend(reversed(children))


def _enabled_names(config: dict) -> set[str]:
    """The names a ref can reuse in ``config``: class names, aliases and BYOC paths of the
    components that are not disabled."""
    names: set[str] = set()
    for _, spec in _components(config):
        if "ref" in spec or is_disabled(spec.get("disabled", False)):
            continue
        for key in ("name", "path"):
            value = spec.get(key)
            if isinstance(value, str) and value:
                names.update(part for part in value.split("#") if part)
    return names


def _alternative_lists(config: dict) -> list[tuple]:
    return [section for section in _section_paths()
            if ".".join(section) in SINGLE_SECTIONS
            and isinstance(_get(config, section), list)]


def _label(arg: str, spec: dict | None) -> str:
    name, _, alias = arg.partition("#")
    if alias or spec is None:
        return alias or name.lstrip("@")
    component = spec.get("name") or spec.get("path") or "component"
    return f"{str(component).split('#')[-1]}.{name.lstrip('@')}"


def _ref_takes_no_args(spec: dict) -> str:
    return (f"a ref reuses the component {spec.get('ref')!r} as built and takes no args: "
            "search (or apply) them on the component it names; a ref can only be switched "
            "with \"@disabled\"")


def _shown(value: Any) -> str:
    """A value as written in JSON (``["a", 0.001]``, ``null``), for messages."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def did_you_mean(name: str, candidates: list[str]) -> str:
    """`` (did you mean X?)`` for the closest candidates, or an empty string."""
    close = difflib.get_close_matches(name, candidates, n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(close)}?)" if close else ""


class _Reader:
    """One pass over a config: shared names first (``#alias``, ``apply``), then dimensions."""

    def __init__(self, config: dict, file: str) -> None:
        self.config = config
        self.file = file
        self.space = SearchSpace(file=file)
        #: shared variable (tag or alias) -> places it reaches, from ``apply`` and ``x#alias``
        self.shared: dict[str, list[Place]] = {}
        self.defined_by: dict[str, str] = {}  # alias -> JSON path of the arg that defines it
        self.applied: list[tuple[str, str]] = []  # (name, JSON path of the apply entry)
        self.bound: set[str] = set()  # shared names some dimension gives a value
        self.named: set[str] = set()  # names listed in any search entry's args

    def error(self, json_path: str, message: str) -> None:
        self.space.problems.append(Problem(self.file, json_path, message))

    def read(self) -> SearchSpace:
        self.space.alternatives = _alternative_lists(self.config)
        for path, spec in _components(self.config):
            self._read_apply(path, spec)
        top = self.config.get("search")
        if top is not None:
            self._read_entries(top, (), None)
        for path, spec in _components(self.config):
            if "search" in spec:
                self._read_entries(spec["search"], path, spec)
        self._check_searched_once()
        for name, json_path in self.applied:
            # A name some search entry lists, but that entry could not be read (its error
            # is reported there): saying the name is unbound too would be a false follow-on.
            if name not in self.bound and name not in self.named:
                known = sorted(self.bound | set(self.defined_by))
                self.error(json_path, f"no search gives a value to {name!r}{did_you_mean(name, known)}"
                                      "; name it in a search entry's args")
        if not self.space.problems:
            self._check_alternatives()
        if not self.space.problems:
            self._check_refs_kept()
        return self.space

    def _check_refs_kept(self) -> None:
        """A switch that disables a component which a ``ref`` reuses (validate's refs to
        train's transforms) leaves that ref with nothing to reuse at that point: every such
        trial would fail. Named at the search target, not at the ref (where the file plainly
        has the component)."""
        from mmarctl.search.concrete import with_point

        switches = [d for d in self.space.dimensions if d.type == "enum" and any(
            p.kind == "disabled" for places in d.places for p in places)]
        refs = [(path, spec["ref"]) for path, spec in _components(self.config)
                if isinstance(spec.get("ref"), str)]
        if not switches or not refs:
            return
        written = _enabled_names(self.config)
        for dimension in switches:
            for index in range(len(dimension.targets)):
                point = with_point(self.config, SearchSpace(dimensions=[dimension]),
                                   {dimension.key: index})
                enabled = _enabled_names(point)
                for path, target in refs:
                    ref_spec = _get(point, path)
                    if (target in written and target not in enabled
                            and isinstance(ref_spec, dict)
                            and not is_disabled(ref_spec.get("disabled", False))):
                        values = ", ".join(f"{k}={_shown(v)}" for k, v in
                                           dimension.describe(index).items())
                        self.error(f"{dimension.json_path}.targets[{index}]",
                                   f"the search point {values} disables {target!r}, which "
                                   f"{format_json_path(path)} reuses (ref): that ref would "
                                   "have nothing to reuse; give both one tag (\"apply\": "
                                   "{\"@disabled\": \"myTag\"}) and search the tag, or "
                                   "do not disable the component")
                        return

    def _check_searched_once(self) -> None:
        """Each place is written by one search entry: of two, the later value would silently
        replace the earlier, so the first search would never vary anything."""
        searched_by: dict[Place, list[str]] = {}
        for dimension in self.space.dimensions:
            for place in dict.fromkeys(p for places in dimension.places for p in places):
                searched_by.setdefault(place, []).append(dimension.json_path)
        for place, entries in searched_by.items():
            if len(entries) > 1:
                self.error(entries[1], f"{place} is searched twice ({', '.join(entries)}); "
                                       "search each value in one entry")

    # -- apply and aliases -------------------------------------------------------------------
    def _read_apply(self, path: tuple, spec: dict) -> None:
        apply = spec.get("apply")
        if apply is None:
            return
        where = format_json_path(path + ("apply",))
        if not isinstance(apply, dict):
            self.error(where, "expected an object such as {\"@disabled\": \"myTag\"} or "
                              f"{{\"prob\": \"myProb\"}}; Received: {type(apply).__name__}")
            return
        for target, name in apply.items():
            at = f"{where}.{target}"
            if not isinstance(name, str) or not name:
                self.error(at, f"expected the name of a search variable; Received: {_shown(name)}")
                continue
            if target != DISABLED and "ref" in spec:
                self.error(at, _ref_takes_no_args(spec))
                continue
            place = (Place("disabled", path, "disabled") if target == DISABLED
                     else Place("arg", path, target))
            if target.startswith("@") and target != DISABLED:
                self.error(at, f"unknown switch {target!r}; only \"@disabled\" is a switch"
                               f"{did_you_mean(target, [DISABLED])}")
                continue
            self.shared.setdefault(name, []).append(place)
            self.applied.append((name, at))

    # -- search entries ----------------------------------------------------------------------
    def _read_entries(self, entries: Any, path: tuple, spec: dict | None) -> None:
        where = format_json_path(path + ("search",))
        if not isinstance(entries, list):
            self.error(where, f"expected a list of search entries; Received: "
                              f"{type(entries).__name__}")
            self._note_names(entries)  # a lone entry not wrapped in a list
            return
        for index, entry in enumerate(entries):
            self._note_names(entry)
            self._read_entry(entry, path, spec, f"{where}[{index}]")

    def _note_names(self, entry: Any) -> None:
        """The shared names an entry lists in its args (with or without '@', or a '#alias')."""
        args = entry.get("args") if isinstance(entry, dict) else None
        for arg in args if isinstance(args, list) else ():
            if isinstance(arg, str):
                name, _, alias = arg.partition("#")
                self.named.update(n for n in (name.lstrip("@"), alias) if n)

    def _read_entry(self, entry: Any, path: tuple, spec: dict | None, at: str) -> None:
        if not isinstance(entry, dict):
            self.error(at, "expected a search entry {\"type\", \"args\", \"targets\", "
                           f"\"domain\"}}; Received: {type(entry).__name__}")
            return
        typos = sorted(set(entry) - {"type", "args", "targets", "domain"})
        for key in typos:
            self.error(f"{at}.{key}", f"unknown key{did_you_mean(key, ['type', 'args', 'targets', 'domain'])}")
        for key in ("type", "args", "targets"):
            if key not in entry:
                # A key misspelt is reported above: "missing" as well would be a follow-on.
                if not typos:
                    self.error(at, f"missing \"{key}\" (a search entry has \"type\", "
                                   "\"args\" and \"targets\")")
                return
        kind = entry.get("type")
        if kind not in TYPES:
            hint = did_you_mean(str(kind), list(TYPES)) if isinstance(kind, str) else ""
            self.error(f"{at}.type", f"expected \"enum\" or \"float\"; Received: {kind!r}{hint}")
            return
        domain = entry.get("domain")
        if domain is not None and domain not in DOMAINS:
            hint = did_you_mean(str(domain), list(DOMAINS)) if isinstance(domain, str) else ""
            self.error(f"{at}.domain", f"expected one of lr, net, transform; Received: "
                                       f"{domain!r}{hint}")
            return
        args = entry.get("args")
        if (not isinstance(args, list) or not args
                or not all(isinstance(a, str) and a for a in args)):
            self.error(f"{at}.args", f"expected a non-empty list of names; Received: {_shown(args)}")
            return
        if len(set(args)) != len(args):
            self.error(f"{at}.args", f"an arg is named twice: {args}")
            return
        places, unknown = [], False
        for arg in args:
            # Every arg is read even after an unknown one: the others are still searched,
            # and an "apply" naming them must not be reported as unbound as well.
            found = self._places(arg, path, spec, f"{at}.args")
            if found is None:
                unknown = True
                continue
            places.append(tuple(found))
        if unknown:
            return
        if kind == "float" and not self._takes_fractions(places, at):
            return
        targets = self._targets(kind, entry.get("targets"), args, places, f"{at}.targets")
        if targets is None:
            return
        self.space.dimensions.append(Dimension(
            key=at, type=kind, domain=domain, args=tuple(args), places=tuple(places),
            targets=targets, json_path=at, labels=tuple(_label(arg, spec) for arg in args)))

    def _takes_fractions(self, places: list, at: str) -> bool:
        """Whether every global or component arg a float search writes takes a fractional
        number (the training config's schema or the component catalogue says so; what they
        do not know is taken on trust).
        ``epochs`` drawn as 1.37 would fail every trial, while ``check`` on the bounds
        alone (1.0 and 2.0) sees whole numbers."""
        from mmarctl.schemas import load_schema

        known = load_schema("config_train").get("properties", {})
        for place in (p for arg_places in places for p in arg_places):
            expected = (known.get(place.name, {}).get("type") if place.kind == "global"
                        else self._arg_type(place))
            if expected is None or "number" in ([expected] if isinstance(expected, str)
                                                else expected):
                continue
            what = {"integer": "an integer", "boolean": "true or false"}.get(
                expected, str(expected))
            example = ("[[1], [2]]" if expected == "integer" else "[[true], [false]]")
            self.error(at, f"{place.name} expects {what}, but a float search draws fractional "
                           f"values; search it as an enum (\"targets\": {example})")
            return False
        return True

    def _arg_type(self, place: Place) -> Any:
        """The catalogue's type of a component arg (None: unknown, BYOC, or not an arg)."""
        from mmarctl import catalog

        if place.kind != "arg":
            return None
        spec = _get(self.config, place.path)
        name = spec.get("name") if isinstance(spec, dict) and "path" not in spec else None
        found = catalog.find(name.split("#")[0]) if isinstance(name, str) and name else None
        return ((found[1].get("args") or {}).get(place.name) or {}).get("type") \
            if found else None

    def _places(self, arg: str, path: tuple, spec: dict | None, at: str) -> list[Place] | None:
        """Where one arg's value lands; None (after an error) when it lands nowhere."""
        if path:  # component level: its own args, @disabled, and a shared alias
            name, _, alias = arg.partition("#")
            own = (Place("disabled", path, "disabled") if name == DISABLED
                   else Place("arg", path, name))
            if name.startswith("@") and name != DISABLED:
                self.error(at, f"unknown switch {name!r}; a component's own switch is "
                               f"\"@disabled\"{did_you_mean(name, [DISABLED])}")
                return None
            if not name:
                self.error(at, f"expected an argument name before '#'; Received: {arg!r}")
                return None
            if name != DISABLED and spec is not None and "ref" in spec:
                # The runtime reuses the named component as built: a searched arg written
                # here would never reach training, and every trial would train alike.
                self.error(at, _ref_takes_no_args(spec))
                return None
            places = [own]
            if alias:
                if alias in self.defined_by:
                    self.error(at, f"alias {alias!r} is already defined at "
                                   f"{self.defined_by[alias]}")
                    return None
                self.defined_by[alias] = at
                self.bound.add(alias)
                places += self.shared.get(alias, [])
            return places
        # top level: a tag or alias from apply (with or without '@'), else a global
        name = arg[1:] if arg.startswith("@") else arg
        if name in self.shared:
            self.bound.add(name)
            return list(self.shared[name])
        if not arg.startswith("@") and name in self.config and not isinstance(
                self.config[name], (dict, list)):
            return [Place("global", (), name)]
        if not arg.startswith("@") and isinstance(self.config.get(name), (dict, list)):
            kind = "an object" if isinstance(self.config[name], dict) else "a list"
            self.error(at, f"{name!r} holds {kind}: a top-level search sets a global with a "
                           "plain value (a number, string or true/false) or a tag; search "
                           "the values inside a component with that component's own search")
            return None
        globals_ = [k for k, v in self.config.items() if not isinstance(v, (dict, list))]
        what = "tag" if arg.startswith("@") else "global or tag"
        self.error(at, f"unknown {what} {arg!r}: no global of the config and no "
                       f"\"apply\" uses it{did_you_mean(name, sorted(self.shared) + globals_)}")
        return None

    def _targets(self, kind: str, targets: Any, args: list[str], places: list,
                 at: str) -> tuple | None:
        if kind == "float":
            if len(args) != 1:
                self.error(at, f"a float search draws one value: give one arg, not {len(args)}")
                return None
            if (not isinstance(targets, list) or len(targets) != 2
                    or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                               for t in targets)):
                self.error(at, f"expected [low, high] (two numbers); Received: {_shown(targets)}")
                return None
            low, high = (float(t) for t in targets)
            if not (math.isfinite(low) and math.isfinite(high)):
                self.error(at, f"bounds must be finite numbers; Received: {_shown(targets)}")
                return None
            if low >= high:
                self.error(at, f"low must be below high; Received: [{targets[0]}, {targets[1]}]"
                               + (" (reversed)" if low > high else ""))
                return None
            if any(p.kind == "disabled" for p in places[0]):
                self.error(at, "a float cannot switch a component on or off: use an enum of "
                               "[[true], [false]]")
                return None
            return (low, high)
        if not isinstance(targets, list) or not targets:
            self.error(at, f"expected a non-empty list of value tuples, one value per arg "
                           f"(e.g. [[1], [2]]); Received: {_shown(targets)}")
            return None
        for index, target in enumerate(targets):
            if not isinstance(target, list) or len(target) != len(args):
                self.error(f"{at}[{index}]", f"expected a list of {len(args)} value(s), one per "
                                             f"arg {args}; Received: {_shown(target)}")
                return None
            for value, arg_places in zip(target, places):
                if any(p.kind == "disabled" for p in arg_places) and not isinstance(value, bool):
                    self.error(f"{at}[{index}]", f"a switch takes true or false; Received: "
                                                 f"{_shown(value)}")
                    return None
        return tuple(tuple(t) for t in targets)

    # -- alternatives ------------------------------------------------------------------------
    def _check_alternatives(self) -> None:
        """Each list of alternatives must be chosen from, and every enum point must leave
        exactly one alternative enabled."""
        from mmarctl.search.concrete import enabled_alternatives

        for section in self.space.alternatives:
            where = format_json_path(section)
            members = _get(self.config, section)
            switched = {p.path for d in self.space.dimensions for ps in d.places for p in ps
                        if p.kind == "disabled"}
            if not any(section + (i,) in switched for i in range(len(members))):
                self.error(where, "a list of alternatives that no search chooses from; give "
                                  "each an \"apply\": {\"@disabled\": \"tag\"} and search the "
                                  "tags, or write one component")
                continue
            deciding = [d for d in self.space.dimensions if d.type == "enum" and any(
                p.kind == "disabled" and p.path[:len(section)] == section and
                len(p.path) == len(section) + 1 for ps in d.places for p in ps)]
            sub = SearchSpace(dimensions=deciding)
            if sub.combinations() > 100_000:
                continue  # too many to enumerate; the trial's own check reports a bad point
            for point in sub.grid():
                count = len(enabled_alternatives(self.config, sub, point, section))
                if count != 1:
                    described = ", ".join(f"{k}={v}" for k, v in sub.describe(point).items())
                    state = "none" if count == 0 else f"{count}"
                    self.error(where, f"the search can enable {state} of these alternatives "
                                      f"({described}); every choice must enable exactly one")
                    break
