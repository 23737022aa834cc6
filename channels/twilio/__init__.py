"""Twilio: SMS and WhatsApp messaging, and voice."""
