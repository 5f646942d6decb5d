"""Helpers shared by several test modules: fake servers, trackers under test. No tests here."""
