"""The missing seal: sealed receipts (办结凭证) for approved business, signed with the agency's key."""
