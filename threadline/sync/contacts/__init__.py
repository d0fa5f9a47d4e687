"""The CRM side of the engine: pulling contact changes into the mirror, contact changes as events, what the CRM
tells us besides contacts (meetings, completed tasks), and the reply properties written back."""
