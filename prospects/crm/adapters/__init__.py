"""CRM adapters behind one small interface (`base.CrmAdapter`): HubSpot and Salesforce."""
