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
from fer_study.models._registry import (
    ModelInfo,
    check_model_kwargs,
    create_model,
    list_models,
    model_info,
    parameter_count,
    register_model,
    registered_for_now,
)

__all__ = ["ModelInfo", "check_model_kwargs", "create_model", "list_models", "model_info", "parameter_count",
           "register_model", "registered_for_now"]
