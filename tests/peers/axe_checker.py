"""axe-core (the npm package, pinned in ``axe/package.json``) loaded into a Playwright page to
check it for accessibility problems.

    from peers.axe_checker import axe_violations
    assert axe_violations(page) == []   # needs node and npm (require_node() skips or fails)
"""
from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from .oidc_peer import require_node

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def ensure_axe() -> Path:
    """``npm ci`` in the axe folder unless the pinned axe-core is installed; its script."""
    require_node()
    with open(Path(tempfile.gettempdir()) / "al-roster-axe-npm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _current():
            done = subprocess.run([shutil.which("npm"), "ci", "--no-audit", "--no-fund"],
                                  cwd=AXE_DIR, capture_output=True, text=True, timeout=300,
                                  check=False)
            if done.returncode != 0 or not _current():
                raise RuntimeError(f"npm ci failed in {AXE_DIR.name}/ ({done.returncode}):\n"
                                   f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return AXE_JS


def _current() -> bool:
    wanted = json.loads((AXE_DIR / "package.json").read_text())["dependencies"]["axe-core"]
    installed = AXE_DIR / "node_modules" / "axe-core" / "package.json"
    return (installed.exists() and AXE_JS.exists()
            and json.loads(installed.read_text()).get("version") == wanted)


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is now: rule id, impact, help and targets."""
    page.add_script_tag(path=str(ensure_axe()))
    found = page.evaluate("""async () => {
        const result = await axe.run(document);
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.map(n => n.target.join(" "))}));
    }""")
    return found
