"""Built-in alert channels: webhook, e-mail, log."""
