"""What the window says about the segmentation model: the status bar label, the banner shown
when no model can be used, and the install dialog the banner (or the Help menu) offers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from cutout_studio.qt.dialogs import ModelBanner, ModelInstallDialog, model_description
from cutout_studio.qt.masking import MaskScheduler
from cutout_studio.qt.workers import Lane

if TYPE_CHECKING:  # torch loads with it: only the type is needed here
    from cutout_studio.core.segmenter import Segmenter


class ModelStatus(QObject):
    def __init__(
        self,
        masks: MaskScheduler,
        lane: Lane,
        model: str,
        status_bar: QStatusBar,
        keep: Callable[[QWidget], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self._masks = masks
        self._lane = lane
        self.model = model  #: the model named in the install offer (the editor's current one)
        self._status_bar = status_bar
        self._keep = keep
        self._parent = parent
        self.banner = ModelBanner()
        self.label = QLabel("Model: loading…")
        self.text = "loading…"  #: what the About dialog says while no model is loaded
        self.banner.install_button.clicked.connect(lambda: self.offer_install(self.banner.label.text()))
        masks.segmenter_ready.connect(self._ready)
        masks.model_missing.connect(self._missing)
        masks.model_failed.connect(self._failed)

    def _ready(self, segmenter: Segmenter) -> None:
        self.banner.hide()
        self._set(f"{segmenter.model_name} on {segmenter.device_label}")
        self.label.setToolTip(model_description(segmenter.card))
        self._status_bar.showMessage(f"Model {segmenter.model_name} ready on {segmenter.device_label}", 4000)

    def _missing(self, message: str) -> None:
        self._set("not installed")
        self._show_banner(
            f"No segmentation model is installed ({message}). Photos open, but there is no automatic mask."
        )

    def _failed(self, message: str) -> None:
        self._set("unavailable")
        self._show_banner(f"The segmentation model cannot be loaded: {message}")

    def _set(self, text: str) -> None:
        self.text = text
        self.label.setText(f"Model: {text}")

    def _show_banner(self, text: str) -> None:
        self.banner.label.setText(text)
        self.banner.show()

    def offer_install(self, reason: str) -> ModelInstallDialog:
        dialog = ModelInstallDialog(self._lane, self.model, reason.rstrip("."), self._parent)
        dialog.installed.connect(lambda _m: self._installed())
        self._keep(dialog)
        dialog.show()
        return dialog

    def _installed(self) -> None:
        self._masks.segmenter = None
        self._masks.load_model()
