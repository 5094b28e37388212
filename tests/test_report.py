"""``genbench report``: a self-contained page, checked in a real headless browser."""

import json
import re
import shutil
import subprocess

import pytest
from record_factory import make_record, sampled_records

from genbench.cli import main
from genbench.results import write_record

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Appended to a copy of the report (never to the report itself): once the page has loaded,
# it writes what rendered into the DOM that --dump-dom prints.
CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const tables = [...document.querySelectorAll("table")];
  const found = {
    images: images.length,
    rendered: images.filter(i => i.complete && i.naturalWidth > 0 && i.width > 0).length,
    tables: tables.length,
    visible_tables: tables.filter(t => t.getBoundingClientRect().height > 0).length,
    cells: document.querySelectorAll("td").length,
  };
  const out = document.createElement("pre");
  out.id = "check";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script></body>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("report")
    sampled_records(base / "records")
    out = base / "out" / "report.html"
    assert main(["report", str(base / "records"), "--out", str(out)]) == 0
    return out


def test_report_holds_tables_and_figures_and_fetches_nothing(report):
    text = report.read_text()
    assert text.count("<table>") == 3  # digits, grid25, ring8
    sources = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in text and "https://" not in text and "<script" not in text
    assert "ring8 (cpu): ± is the standard deviation" in text


def _browser():
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def test_report_renders_in_a_headless_browser(report, tmp_path):
    browser = _browser()
    if browser is None:
        reason = f"no headless browser ({', '.join(BROWSERS)}) on PATH; .ci/run installs chromium"
        print(reason)
        pytest.skip(reason)
    checked = tmp_path / "checked.html"
    checked.write_text(report.read_text().replace("</body>", CHECK))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    flags += ["--virtual-time-budget=10000"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", checked.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    found = json.loads(re.search(r'<pre id="check">(.*?)</pre>', dom).group(1))
    assert found["images"] == found["rendered"] == 4
    assert found["tables"] == found["visible_tables"] == 3 and found["cells"] > 20
    screenshot = tmp_path / "report.png"  # kept with the test's temporary files
    subprocess.run(
        [browser, *flags, "--window-size=1280,2400", f"--screenshot={screenshot}", report.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 20000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (lambda t: ["report", str(t / "empty")], "no records found"),
        (lambda t: ["report", str(t / "records"), "--out", str(t / "empty")], "is a directory"),
        (lambda t: ["report", str(t / "records"), "--out", str(t / "file" / "r.html")], "writable"),
    ],
    ids=["no-records", "out-is-a-directory", "unwritable-out"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    write_record(make_record(), tmp_path / "records")
    (tmp_path / "file").write_text("not a directory")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
