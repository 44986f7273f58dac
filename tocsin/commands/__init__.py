"""Groups of ``tocsin`` commands, each in its own module; ``tocsin.cli`` adds them."""
