"""Every template of every pack, by name: lookup, a lexical filter, and capabilities for the search index.

Built per call from the registry (cheap: packs keep their loaded templates). Two packs offering the
same template name is a conflict like any other in the registry: the first pack keeps the name and
the problem names both.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcptrace_core.logging import get_logger
from mcptrace_core.templates.model import Template

if TYPE_CHECKING:
    from mcptrace_core.registry import Registry
    from mcptrace_core.search.capability import Capability

log = get_logger(__name__)



class UnknownTemplateError(LookupError):
    """No template has this name; the message suggests the nearest names."""


@dataclass
class TemplateCatalog:
    templates: dict[str, Template] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_registry(cls, registry: Registry) -> TemplateCatalog:
        catalog = cls()
        for contribution in registry.contributions("template_pack"):
            pack = contribution.item
            try:
                templates = list(pack.templates())
                catalog.problems += [f"pack {pack.name!r}: {problem}" for problem in pack.problems()]
            except Exception as error:  # isolation boundary: a broken pack must not hide the others
                catalog.problems.append(f"pack {pack.name!r} (plugin {contribution.plugin!r}) failed: {error}")
                log.error("template pack skipped", pack=pack.name, error=f"{type(error).__name__}: {error}")
                continue
            for template in templates:
                kept = catalog.templates.get(template.name)
                if kept is not None:
                    catalog.problems.append(
                        f"template {template.name!r} from pack {pack.name!r} conflicts with the one from pack "
                        f"{kept.pack!r}; kept the one from {kept.pack!r}"
                    )
                    continue
                catalog.templates[template.name] = template
        return catalog

    def get(self, name: str) -> Template:
        template = self.templates.get(name)
        if template is None:
            near = difflib.get_close_matches(name, list(self.templates), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(near)}?" if near else "; list_templates shows them all"
            raise UnknownTemplateError(f"no template named {name!r}{hint}")
        return template

    def search(self, query: str | None) -> list[Template]:
        """Templates matching the words of ``query`` (all when empty), best first.

        Lexical on purpose: the search index finds by meaning; this is the quick, predictable filter.
        A word matches a template when it appears in its name, title, tags, category, description or
        parameter names (stemmed as search stems them: "programs" finds "program"); fields that say more
        about what a template is weigh more.
        """
        from mcptrace_core.search.lexical import terms

        wanted = list(dict.fromkeys(terms(query or "")))
        if not wanted:
            return sorted(self.templates.values(), key=lambda template: template.name)
        scored = [(_score(template, wanted), template) for template in self.templates.values()]
        return [template for score, template in sorted(scored, key=lambda item: (-item[0], item[1].name)) if score > 0]


def _score(template: Template, wanted: list[str]) -> float:
    """Each query term scores the weight of the most telling field holding a word that starts with it."""
    from mcptrace_core.search.lexical import terms

    fields = (
        (3.0, template.name.replace("_", " ")),
        (2.0, template.title),
        (2.0, " ".join(template.tags)),
        (1.5, template.category),
        (1.0, template.description),
        (0.5, " ".join(template.parameters).replace("_", " ")),
    )
    vocabularies = [(weight, set(terms(text))) for weight, text in fields]
    return sum(
        max((weight for weight, words in vocabularies if any(word.startswith(term) for word in words)), default=0.0)
        for term in wanted
    )


def template_capability(template: Template) -> Capability:
    """A template as the search index holds it: found by meaning, checked against this host.

    Its probes are those it attaches with its example parameters, so find_capabilities and
    list_templates can say whether it runs here (a template whose example names something absent on
    this host is checked by its requirements alone).
    """
    from mcptrace_core.search.capability import Capability
    from mcptrace_core.templates.engine import TemplateError, TemplateParameterError, render

    try:
        probes = tuple(render(template, template.example_parameters()).probes)
    except (TemplateError, TemplateParameterError):
        probes = ()
    parameters = ", ".join(template.all_parameters())
    return Capability(
        kind="template",
        id=template.name,
        title=template.title,
        text=f"{template.description} Category: {template.category}. Parameters: {parameters}.",
        source=template.pack,
        identifiers=(template.name, f"template_{template.name}"),
        probes=probes,
        requires=tuple(template.requires),
        tags=(*template.tags, template.category),
        usage=f"generate_from_template(template_name={template.name!r}, parameters={{...}})",
        item=template,
    )
