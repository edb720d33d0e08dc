# Importing each model file registers its models.
from fer_study.models import (  # noqa: F401
    arbex,
    compact,
    emonext,
    mini_xception,
    pattlite,
    resemotenet,
    resmasking,
    resnet,
    vggnet,
)
from fer_study.models._registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
