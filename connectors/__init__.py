"""Clients for the two systems the sync joins: Jushuitan (OMS/WMS) and Kingdee K3Cloud (ERP)."""
