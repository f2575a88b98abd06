"""Brand packs: published versions with terms, seller subscriptions, listing links and change events."""
