"""SQL of the bookings add-on, one module per aggregate; the domain modules keep the rules.

Functions return rows, plain values or the storage records defined here (``ServiceRecord``); the
domain modules turn rows into their models, each with one mapper.
"""
