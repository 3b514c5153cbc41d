"""Print the third-party requirements of pyproject.toml for the given extras, one a line.

The image installs these in a layer of their own, keyed by pyproject.toml alone, before it
copies the source: a source change then rebuilds only the thin layers on top.

    python requirements.py pyproject.toml api          # core + the `api` extra
"""

import re
import sys
import tomllib


def requirements(pyproject: str, extras: list[str]) -> list[str]:
    with open(pyproject, "rb") as fh:
        project = tomllib.load(fh)["project"]
    name = project["name"]
    optional = project.get("optional-dependencies", {})
    out: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()
    todo = list(extras)
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional[extra]:
            own = re.fullmatch(re.escape(name) + r"\[([^\]]+)\]", req.replace(" ", ""))
            if own:
                todo += own.group(1).split(",")
            elif req not in out:
                out.append(req)
    return out


if __name__ == "__main__":
    extras = [e for arg in sys.argv[2:] for e in arg.split(",") if e]
    print("\n".join(requirements(sys.argv[1], extras)))
