"""Attacks. Evasion attacks are ``__call__(model, x, y) -> x_adv`` on inputs in ``[0, 1]``."""
