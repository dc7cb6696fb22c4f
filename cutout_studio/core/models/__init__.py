"""Models: cards (what each model is), architectures, and weights install/verify/load."""

from cutout_studio.core.models.cards import DEFAULT_MODEL, ModelCard, all_cards, get_card
from cutout_studio.core.models.device import device_label, resolve_device
from cutout_studio.core.models.weights import (
    InstalledModel,
    card_for_file,
    delete_user_model,
    import_file,
    install,
    installed,
    list_models,
    load_model,
    register_user_model,
)

__all__ = [
    "DEFAULT_MODEL",
    "InstalledModel",
    "ModelCard",
    "all_cards",
    "card_for_file",
    "delete_user_model",
    "device_label",
    "get_card",
    "import_file",
    "install",
    "installed",
    "list_models",
    "load_model",
    "register_user_model",
    "resolve_device",
]
