"""sharedvis: shared-feature visualization by parallel backpropagation (Lappe et al., NeurIPS 2024),
on sharedvis's own autodiff engine; numpy in and out, no deep-learning framework.

    import sharedvis as sv
    model = sv.load_model("resnet50.safetensors")          # device="auto"
    x = model.preprocess(["a.png", "b.jpg"])                # (N, C, H, W) float32
    phi = model.features(x, "layer3")                       # (N, D)
    S = model.vjp(x, G, "layer3")                           # G (K, N, D) -> (K, N, C, H, W)
    res = sv.explain(images="imgs/", synthetic=["face"], model="resnet50.safetensors", layer="layer4")

The functions mirror the CLI's commands (`sharedvis info|features|vjp|ig|jacobian|explain`), their
names and defaults; docs/python_example.md walks through them."""
from ._explain import ExplainResult, explain, explain_defaults
from ._model import IGResult, Layer, Model, ModelInfo, load_model

__version__ = "0.1.0"
__all__ = ["load_model", "Model", "ModelInfo", "Layer", "IGResult", "explain", "explain_defaults", "ExplainResult",
           "bundled_model_path"]


def bundled_model_path() -> str:
    """The bundled Fashion-MNIST CNN (installed with the package)."""
    from ._explain import _bundled_model
    return _bundled_model()
