import numpy as np
import pytest
from skimage import data


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo, cropped so tests stay fast."""
    return data.astronaut()[100:228, 150:310]
