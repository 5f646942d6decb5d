"""Reviews of a worker after a service: written by the booking's customer, answered once by its
worker, moderated by staff, and summed into the worker's ratings in the same transaction."""
