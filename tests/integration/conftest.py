"""Session fixture that makes sure the local Kafka + Pinot JVMs are up.

Starts them once per test session (first run also downloads the jars from Maven Central) and
stops them at the end only if this session started them, so a developer's running services
survive a test run. Under CI=true a start failure is a test failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from modelhealth.services import ServicesError, down, is_up, up

_IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def jvm_services() -> Iterator[None]:
    """Kafka + Pinot on 127.0.0.1 (ports from modelhealth.services.ports)."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing and not _IN_CI:
        pytest.skip(
            f"integration tests need {' and '.join(missing)}: install a JDK 17+ and Maven 3.8+ "
            "(apt-get install openjdk-17-jdk-headless maven), then `modelhealth services up`"
        )
    if is_up():
        yield
        return
    try:
        up()
    except ServicesError as exc:
        pytest.fail(f"could not start Kafka + Pinot: {exc}", pytrace=False)
    try:
        yield
    finally:
        down()
