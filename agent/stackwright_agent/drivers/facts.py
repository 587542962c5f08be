"""Facts (placeholder until implemented)."""


def gather_facts(config):
    return {}
