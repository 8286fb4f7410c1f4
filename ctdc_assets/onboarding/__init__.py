"""Onboarding a contributor: a draft crosswalk and raw suite from a first delivery
(`draft`, on the delivery's `profile`), and a dry run of the crosswalk (`check`)."""
