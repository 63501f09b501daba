"""Screens still to be built say so, rather than pretending (removed as each one lands)."""

from django.shortcuts import render


def placeholder(title: str, issue: str):
    def view(request):
        return render(request, "placeholder.html", {"title": title, "issue": issue})

    view.__name__ = f"placeholder_{title.lower().replace(' ', '_')}"
    return view
