"""DRF paging and the default permission, named in settings (kept free of DRF views)."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_number(self, request, paginator):
        """A page number that is not a plain positive integer of sane size is a 404.

        (Django's paginator turns "1e999" into infinity and then fails with an
        OverflowError that DRF does not catch: a 500.)
        """
        number = super().get_page_number(request, paginator)
        if number in self.last_page_strings:
            return number
        if not (isinstance(number, int) or str(number).isdigit()) or len(str(number)) > 9:
            raise NotFound("Invalid page.")
        return number


class IsCompanyMember(BasePermission):
    message = "Your account is not part of a company."

    def has_permission(self, request, view) -> bool:
        from workorders.permissions import membership_of

        return membership_of(request.user) is not None


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a body nested past Python's recursion limit is a 400.

    (The decoder raises RecursionError, which DRF does not catch: a 500, even on the
    sign-in endpoint before authentication.)
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
