"""Screenshots of the MLflow UI as a person sees it, from a real headless Chromium.

Not part of the project's environment: run it with a throwaway venv that has selenium, and
Debian's chromium and chromium-driver (README, "The MLflow UI")::

    apt-get install -y chromium chromium-driver
    python3 -m venv /tmp/selenium-venv && /tmp/selenium-venv/bin/pip install selenium
    /tmp/selenium-venv/bin/python scripts/ui_screenshots.py \\
        --store sqlite:////abs/path/mlflow.db --out /tmp/shots

It starts ``mlflow ui`` over ``--store`` on 127.0.0.1 (or uses a running UI/server given by
``--url``), finds the experiment's latest sweep through MLflow's REST API, and saves:

- ``runs.png``: the page the sweep's printed "runs" link opens (its shared view: the sweep's
  runs grouped by the swept keys, the summary columns, every group shown);
- ``charts.png``: the same view's Chart view (summary metrics as bars per group, then the
  curves with a band per group);
- ``sweep_run.png``: the sweep's parent run, its description (the verdict) on its overview;
- ``report.png``: the sweep parent's ``report.html`` (else ``summary.md``), if logged,
  inside MLflow's artifact frame;
- ``experiment.png``: the experiment's runs without a view (Dataset, Source, Models), the
  sweep expanded;
- ``run.png``: a run of the sweep (its metrics, params);
- ``model.png``: that run's logged model (its metrics), if it logged one.

Stdlib and selenium only (the project's venv is not needed: the REST API answers).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",  # then the page itself is made 1600x1000
)
REPORT_PAGES = ("report.html", "summary.md")
ML = "workflowType=machine_learning"
# The runs list's row expanders (a sweep's runs are nested under its parent run).
EXPAND_RUNS = "button[data-component-id*='runnamecellrenderer']"
CLOSE_ASSISTANT = "button[data-component-id='mlflow.assistant.chat_panel.close']"
INNER_SIZE = (1600, 1000)


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with serve(args) as url, browser(args) as driver:
        found = api(url, "experiments/get-by-name", experiment_name=args.experiment)
        experiment_id = found["experiment"]["experiment_id"]
        parent, child = sweep_runs(url, experiment_id)
        for name, (page, expected) in pages(url, experiment_id, parent, child).items():
            path = args.out / f"{name}.png"
            expand = EXPAND_RUNS if name == "experiment" else None
            screenshot(driver, page, path, expected, args.wait, click=expand)
            print(f"{path}: {page}")


def pages(url: str, experiment_id: str, parent: dict, child: dict) -> dict[str, tuple[str, str]]:
    """The pages to take, by file name: ``(URL, a text the loaded page shows)``.

    The URLs carry ``workflowType=machine_learning``: MLflow 3.17's UI shows an experiment
    as GenAI (its overview) or as model training (its runs) by that parameter, else by the
    switch at its top left (kept in the browser), GenAI by default.
    """
    experiment = f"{url}/#/experiments/{experiment_id}"
    parent_id, child_id = parent["info"]["run_id"], child["info"]["run_id"]
    tags = {tag["key"]: tag["value"] for tag in parent["data"].get("tags", [])}
    view = f"{experiment}/runs?{ML}&viewStateShareKey=augsweep-sweep-{tags['sweep_id']}"
    group = child["data"]["tags"]
    policy = next(tag["value"] for tag in group if tag["key"] == "augment")
    shown = {
        "runs": (view, policy),
        "charts": (f"{view}&compareRunsMode=CHART", "test_accuracy"),
        "sweep_run": (f"{experiment}/runs/{parent_id}?{ML}", "Does the augmentation help"),
        "experiment": (f"{experiment}?{ML}", parent["info"]["run_name"]),
        "run": (f"{experiment}/runs/{child_id}?{ML}", child["info"]["run_name"]),
    }
    model_id = logged_model(child)
    if model_id:
        shown["model"] = (f"{experiment}/models/{model_id}?{ML}", model_id)
    report = report_page(url, parent_id)
    if report:
        shown["report"] = (f"{experiment}/runs/{parent_id}/artifacts/{report}?{ML}", report)
    return shown


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", help="a tracking URI: start `mlflow ui` over it")
    where.add_argument("--url", help="a running MLflow UI or server, http://HOST:PORT")
    parser.add_argument("--out", type=Path, default=Path("ui_screenshots"))
    parser.add_argument("--experiment", default="augsweep")
    parser.add_argument(
        "--mlflow",
        default=str(ROOT / ".venv" / "bin" / "mlflow"),
        help="the mlflow command that serves --store (default: the project's venv)",
    )
    parser.add_argument("--wait", type=float, default=4.0, help="seconds a page may settle")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    return parser.parse_args()


@contextmanager
def serve(args: argparse.Namespace):
    """The UI's address: ``--url``, or a ``mlflow ui`` started over ``--store`` (stopped
    at the end)."""
    if args.url:
        yield args.url.rstrip("/")
        return
    port = free_port()
    command = [args.mlflow, "ui", "--backend-store-uri", args.store, "--host", "127.0.0.1",
               "--port", str(port)]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_health(url, process, log)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(url: str, process: subprocess.Popen, log, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit(f"mlflow ui exited ({process.returncode}):\n{log.read()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"mlflow ui did not answer at {url} within {timeout:.0f} s")


@contextmanager
def browser(args: argparse.Namespace):
    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        # An explicit driver: selenium would otherwise try to download one.
        driver = webdriver.Chrome(options=options, service=Service(args.chromedriver))
        inner_size(driver, *INNER_SIZE)
        try:
            yield driver
        finally:
            driver.quit()


def inner_size(driver, width: int, height: int) -> None:
    """Size the window so that the page itself (what a screenshot holds) is width x height."""
    outer = driver.execute_script("return [window.outerWidth - window.innerWidth, "
                                  "window.outerHeight - window.innerHeight]")  # fmt: skip
    driver.set_window_size(width + outer[0], height + outer[1])


def api(url: str, endpoint: str, body: dict | None = None, **query) -> dict:
    """One call of MLflow's REST API (GET with ``query``, or POST with ``body``)."""
    address = f"{url}/api/2.0/mlflow/{endpoint}"
    if query:
        address += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        address, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def sweep_runs(url: str, experiment_id: str) -> tuple[dict, dict]:
    """The latest sweep's parent run and its best child (by ``best_val_accuracy``)."""
    parents = api(url, "runs/search", {
        "experiment_ids": [experiment_id],
        "filter": "tags.`augsweep.role` = 'sweep'",
        "order_by": ["attributes.start_time DESC"],
        "max_results": 1,
    }).get("runs", [])  # fmt: skip
    if not parents:
        raise SystemExit(f"no sweep in experiment {experiment_id}: run `train.py -m ...` first")
    parent = parents[0]
    children = api(url, "runs/search", {
        "experiment_ids": [experiment_id],
        "filter": f"tags.mlflow.parentRunId = '{parent['info']['run_id']}'",
        "order_by": ["metrics.best_val_accuracy DESC"],
        "max_results": 1,
    }).get("runs", [])  # fmt: skip
    if not children:
        raise SystemExit(f"sweep run {parent['info']['run_id']} has no runs under it")
    return parent, children[0]


def logged_model(run: dict) -> str | None:
    """The id of the run's (first) logged model, if it logged one."""
    outputs = (run.get("outputs") or {}).get("model_outputs") or []
    return outputs[0]["model_id"] if outputs else None


def report_page(url: str, run_id: str) -> str | None:
    """The report file the parent run logged at its artifact root, if any."""
    files = api(url, "artifacts/list", run_id=run_id).get("files", [])
    names = {entry["path"] for entry in files}
    return next((name for name in REPORT_PAGES if name in names), None)


def screenshot(driver, url: str, path: Path, expected: str, settle: float,
               click: str | None = None) -> None:  # fmt: skip
    """Open ``url``, wait until the single-page app shows ``expected`` (it fetches its data
    after the page has loaded), close the assistant panel, click every ``click`` element
    (CSS), and save the window."""
    driver.get(url)
    try:
        WebDriverWait(driver, 60).until(
            lambda d: expected in d.execute_script("return document.body.innerText")
        )
    except TimeoutException:  # saved all the same, to be looked at
        print(f"{path}: {expected!r} not shown within 60 s")
    for button in driver.find_elements(By.CSS_SELECTOR, CLOSE_ASSISTANT):
        button.click()
    for button in driver.find_elements(By.CSS_SELECTOR, click) if click else []:
        button.click()
    time.sleep(settle)  # charts and tables fill in after the text appears
    driver.save_screenshot(str(path))


if __name__ == "__main__":
    main()
