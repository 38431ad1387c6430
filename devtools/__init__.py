"""Tools for developers and for showing the bridge: the benchmarks and the demo.

They drive the sandbox platform, so they live outside the production packages (``bridge``,
``sync``, ``connectors``, ``console``); the CLI reaches them only from its ``demo`` and
``bench`` commands."""
