# Type stubs of the public API (sharedvis/__init__.py, _model.py, _explain.py).
import os
from typing import Any, NamedTuple, Sequence, Union

import numpy as np
import numpy.typing as npt

PathLike = Union[str, os.PathLike[str]]
FloatArray = npt.NDArray[np.floating[Any]]
ImageInput = Union[PathLike, npt.NDArray[np.uint8]]

__version__: str

class ModelInfo:
    """What a model file says about its inputs and outputs (`sharedvis info`)."""
    arch: str
    in_channels: int
    input_size: int
    resize_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    num_classes: int
    classes: tuple[str, ...] | None
    metadata: dict[str, str]

class Layer(NamedTuple):
    """A layer name and its output shape for one input (None: not reached)."""
    name: str
    shape: tuple[int, ...] | None

class IGResult(NamedTuple):
    """Attributions of x's shape, and the completeness gap per (cotangent,) image."""
    attributions: npt.NDArray[np.float32]
    gap: npt.NDArray[np.float64]

def load_model(path: PathLike, device: str = "auto") -> Model:
    """Loads a model file onto "cpu", "cuda" or "auto"."""

class Model:
    """A model on a backend; the research primitives on numpy arrays."""
    info: ModelInfo
    @property
    def path(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def layers(self) -> list[Layer]: ...
    def preprocess(self, images: ImageInput | Sequence[ImageInput]) -> npt.NDArray[np.float32]:
        """The eval transform of image paths or uint8 arrays: (N, C, H, W)."""
    def features(self, x: FloatArray, layer: str, pool: str = "avg", *, max_batch: int = 16,
                 progress: bool = True, allow_nonfinite: bool = False) -> npt.NDArray[np.float32]:
        """phi(x) at layer: (N, D)."""
    def vjp(self, x: FloatArray, cotangents: FloatArray, layer: str, pool: str = "avg", *, max_batch: int = 16,
            progress: bool = True, allow_nonfinite: bool = False) -> npt.NDArray[np.float32]:
        """d<G, phi(x)>/dx: G (N, D) -> (N, C, H, W); G (K, N, D) -> (K, N, C, H, W)."""
    def integrated_gradients(self, x: FloatArray, cotangents: FloatArray, layer: str, pool: str = "avg", *,
                             steps: int = 32, baseline: str | PathLike | FloatArray = "zero",
                             rule: str = "gausslegendre", max_batch: int = 16, progress: bool = True,
                             allow_nonfinite: bool = False) -> IGResult:
        """Integrated Gradients of <G, phi> with the completeness gap."""
    def jacobian(self, x: FloatArray, layer: str, dims: int | Sequence[int], pool: str = "avg", *,
                 max_batch: int = 16, progress: bool = True,
                 allow_nonfinite: bool = False) -> npt.NDArray[np.float32]:
        """Rows d phi_d / dx for the listed dims: (K, N, C, H, W)."""

class ExplainResult(dict[str, Any]):
    """results.json as a dict, with the raw saliency maps and the output folder."""
    maps: dict[str, npt.NDArray[np.float32]]
    out_dir: str | None

def explain(*, responses: PathLike | FloatArray | None = None, preferred: str | None = None,
            images: PathLike | Sequence[ImageInput] | None = None, categories: Sequence[str] | None = None,
            neurons: Sequence[str] | None = None, dataset: str | None = None, data_dir: PathLike | None = None,
            synthetic: str | Sequence[str] | None = None, model: PathLike | Model | None = None,
            layer: str | None = None, out: PathLike | None = None, progress: bool = True,
            lambda_: float | None = None, work: PathLike | None = None, stage: str = "all",
            shard: str | None = None, **options: Any) -> ExplainResult | None:
    """The whole method (`sharedvis explain`); options as the CLI's flags with '_' for '-'; a staged
    run's stage features, fit or pairs returns None."""

def explain_defaults() -> dict[str, Any]:
    """explain's options and their defaults."""

def bundled_model_path() -> str:
    """The bundled Fashion-MNIST CNN."""
