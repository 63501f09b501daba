"""axe-core in Playwright: run the WCAG 2.0/2.1/2.2 A and AA rules on a page, explain failures.

axe-core is vendored (static/vendor/axe-core/, docs/decisions/0010-accessibility-testing.md).
It is added to the page as a same-origin script, which the Content-Security-Policy admits
(`script-src 'self'`), so the pages are tested under the policy they really run with.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AXE_PATH = "/static/vendor/axe-core/axe.min.js"
AXE_VERSION = "4.14.1"
# WCAG 2.2 A and AA. axe tags each rule with the WCAG version that introduced it, so all five
# tags are needed for "2.2 AA" (wcag22a has no rules of its own yet).
WCAG_AA_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# 1.4.6 Contrast (Enhanced), 7:1: the high-contrast theme promises it.
WCAG_AAA_CONTRAST = ["color-contrast-enhanced"]

RUN = """async ({ options }) => {
  const result = await window.axe.run(document, options);
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({
      target: n.target.join(" "), html: n.html.slice(0, 240), summary: n.failureSummary,
    })),
  }));
}"""


def axe_violations(page, *, rules: list[str] | None = None) -> list[dict]:
    """Violations on the page as it is now: the WCAG 2.2 A/AA tags, or only `rules`."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        base = page.url.split("/", 3)
        page.add_script_tag(url=f"{base[0]}//{base[2]}{AXE_PATH}")
    version = page.evaluate("() => window.axe.version")
    assert version == AXE_VERSION, f"axe-core {version} loaded, {AXE_VERSION} expected"
    if rules:
        options = {"runOnly": {"type": "rule", "values": rules}, "resultTypes": ["violations"]}
    else:
        options = {
            "runOnly": {"type": "tag", "values": WCAG_AA_TAGS},
            "resultTypes": ["violations"],
        }
    return page.evaluate(RUN, {"options": options})


def describe(violations: list[dict]) -> str:
    """One paragraph per rule broken, each failing element on its own line."""
    lines = []
    for v in violations:
        lines.append(f"\n[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for n in v["nodes"]:
            summary = " ".join((n["summary"] or "").split())
            lines.append(f"    at {n['target']}\n       {n['html']}\n       {summary}")
    return "\n".join(lines)
