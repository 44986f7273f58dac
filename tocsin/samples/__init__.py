"""Public AWS event samples shipped with Tocsin, used by the ready example and the demo."""
