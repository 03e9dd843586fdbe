"""Wishes' use cases, one module per sub-domain: ``wishes`` (micro-wishes), ``requests``
(hotline service requests and their dispatch) and ``complaints`` (about a request's volunteer,
delivered to the volunteers service).

Each use case is a function of its command and a unit of work. Who may call it is declared
with its entrypoint and checked before it runs; here are the rules that need stored records,
the writes and their events. Data is reached only through ``uow.store``
(``wishes.store.WishesStore``), so the tests run these on a fake store.
"""
