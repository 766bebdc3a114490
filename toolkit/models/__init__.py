"""Model factories. Each module holds one ``build(info, **params) -> nn.Module`` component."""
