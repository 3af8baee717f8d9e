"""YAML for rubric and judge files: safe, and without aliases.

An alias (``*name``) lets a few lines expand to gigabytes (the "billion laughs" file); rubrics and judge configs
never need one, so a file that uses one is refused with the line to fix.
"""

from __future__ import annotations

import yaml

__all__ = ["load_yaml", "YamlAliasError"]


class YamlAliasError(yaml.YAMLError):
    def __init__(self, line: int):
        super().__init__(f"line {line}")
        self.line = line


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            raise YamlAliasError(self.peek_event().start_mark.line + 1)
        return super().compose_node(parent, index)


def load_yaml(text: str, where: str):
    """Parse ``text``; ``where`` (the file) starts the message of the :class:`ValueError` a bad file raises."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except YamlAliasError as e:
        raise ValueError(f"{where}: line {e.line}: YAML aliases (*name) are not accepted (they can expand without "
                         "bound). Fix: write the value out where it is used.") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ValueError(f"{where}: {at}not valid YAML ({problem}). Fix: check the indentation and quoting there.") \
            from None
