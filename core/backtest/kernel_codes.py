"""The integer codes the compiled kernels share with Python: signals and exit reasons (no numba needed)."""

from __future__ import annotations

# Signal codes shared by the event loop and the fast path.
SIGNAL_NONE = 0
SIGNAL_BUY = 1
SIGNAL_SELL = -1

# Exit reason codes of the fast path (mapped to ``ExitReason`` by the engine).
EXIT_OPEN = 0
EXIT_SIGNAL = 1
EXIT_STOP_LOSS = 2
EXIT_TAKE_PROFIT = 3
EXIT_TRAILING_STOP = 4
