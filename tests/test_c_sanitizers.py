import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "c" / "run_sanitizers.sh"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc with AddressSanitizer")
def test_c_cores_are_clean_under_address_and_undefined_behaviour_sanitizers(tmp_path):
    result = subprocess.run(
        ["sh", str(SCRIPT), "3000", "11"], capture_output=True, text=True, timeout=300, env={"TMPDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fuzz_range_coder: 3000 iterations" in result.stdout and "trellis: 3000 iterations" in result.stdout
