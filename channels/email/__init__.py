"""E-mail: the DOST centres' shared mailboxes, polled over IMAP, answered over SMTP."""
