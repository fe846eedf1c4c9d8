"""Microsoft 365 / Exchange Online through Microsoft Graph (source side): HTTP with httpx, tokens with msal."""
