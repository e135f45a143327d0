"""Pure mail handling: bytes in, plain data out, and back — no database, no broker.

Parsing and charsets, composing messages, quoting, text normalisation, redaction, reply
tokens, case numbers, a mail's identity, attachment checks. Every other role uses it; it uses
none of them.
"""
