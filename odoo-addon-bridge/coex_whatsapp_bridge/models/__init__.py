from . import coex_bridge_config
