"""Source vocabularies of the three sample contributors, with sampling weights.

These are the contributors' own words (HTCDS picklist names, hotline typology labels,
the NGO's lower-case terms), not the CTDC standard's: mapping them is the crosswalks'
job. Crosswalk authors can import these lists to check coverage. Weights are relative
(normalised where used) and tuned so the marginals resemble the real CTDC data.
"""

from __future__ import annotations

# ---------------------------------------------------------------- case_agency (HTCDS v2.0)

HTCDS_GENDER: dict[str, float] = {
    "Feminine": 64.0,
    "Masculine": 32.5,
    "TransgenderFeminine": 0.4,
    "TransgenderMasculine": 0.2,
    "NonConforming": 0.3,
    "NonSpecifiedUnknown": 2.6,
}

HTCDS_TRAFFICKING_STATUS: dict[str, float] = {
    "ActualVictimOfTrafficking": 78.0,
    "PossibleVictimOfTrafficking": 21.0,
    "NotAVictimOfTrafficking": 1.0,
}

HTCDS_METHOD_OF_RECRUITMENT: dict[str, float] = {
    "AtAPlaceOfBusiness": 0.06,
    "AtAnEducationalInstitution": 0.02,
    "AtWork": 0.08,
    "ThroughOnlineSocialNetworks": 0.12,
    "ThroughAnOnlineAdvertisement": 0.08,
    "ThroughATelevisionAdvert": 0.01,
    "ThroughANewspaperAdvert": 0.04,
    "ThroughFamilyOrFamilyEvents": 0.12,
    "ThroughFriendsOrSocialEvents": 0.30,
    "Other": 0.15,
}

# Per-option inclusion probabilities of the multi-select when the field is filled.
# `RestrictsMovement` is not an HTCDS v2.0 value: the agency added it to its picklist.
HTCDS_METHODS_OF_CONTROL: dict[str, float] = {
    "PhysicalThreats": 0.35,
    "ThreatsLawEnforcement": 0.15,
    "ThreatensChildrenFamily": 0.08,
    "DebtBondage": 0.25,
    "FalsePromises": 0.40,
    "PhysicalAbuse": 0.35,
    "SexualAbuse": 0.18,
    "TakesEarnings": 0.35,
    "RestrictsFinancialAccess": 0.08,
    "RestrictsMedicalCare": 0.12,
    "WithholdsNecessities": 0.15,
    "PsychologicalAbuse": 0.45,
    "PsychoactiveSubstance": 0.08,
    "ExcessiveWorkingHours": 0.30,
    "WithholdsDocuments": 0.30,
    "RestrictsMovement": 0.40,
    "Other": 0.04,
}

HTCDS_TYPE_OF_EXPLOITATION_NAMES: list[str] = [
    "ForcedLabour",
    "SexualExploitation",
    "ChildLabour",
    "ForcedMarriage",
    "Servitude",
    "ForcedMilitaryByNonStateActors",
    "OrganRemoval",
    "ForcedBegging",
    "ForcedAdoption",
    "Surrogacy",
    "Other",
]

# Whole multi-select values with their weight, by HTCDS gender group.
HTCDS_TYPE_OF_EXPLOITATION: dict[str, dict[str, float]] = {
    "female": {
        "ForcedLabour": 34.0,
        "SexualExploitation": 36.0,
        "ForcedLabour;SexualExploitation": 5.0,
        "Servitude": 5.0,
        "ForcedMarriage": 4.0,
        "ForcedBegging": 1.5,
        "ChildLabour": 1.0,
        "ForcedAdoption": 0.2,
        "Surrogacy": 0.3,
        "OrganRemoval": 0.1,
        "Other": 12.9,
    },
    "male": {
        "ForcedLabour": 72.0,
        "SexualExploitation": 4.0,
        "ForcedLabour;SexualExploitation": 1.0,
        "Servitude": 3.0,
        "ForcedBegging": 3.0,
        "ChildLabour": 2.0,
        "ForcedMilitaryByNonStateActors": 1.0,
        "OrganRemoval": 0.4,
        "ForcedLabour;ForcedBegging": 0.6,
        "Other": 13.0,
    },
}
HTCDS_LABOUR_TYPES = frozenset({"ForcedLabour", "ChildLabour", "Servitude", "ForcedBegging"})

HTCDS_FORCED_LABOUR_INDUSTRY: dict[str, float] = {
    "A_AgricultureForestryAndFishing": 20.0,
    "B_MiningAndQuarrying": 3.0,
    "C_Manufacturing": 14.0,
    "D_ElectricityGasSteamAndAirConditioningSupply": 0.1,
    "E_WaterSupplySewerageWasteManagement": 0.3,
    "F_Construction": 20.0,
    "G_WholesaleAndRetailTradeRepairOfMotorVehicles": 3.0,
    "H_TransportationAndStorage": 2.0,
    "I_AccommodationAndFoodServiceActivities": 8.0,
    "J_InformationAndCommunication": 0.2,
    "K_FinancialAndInsuranceActivities": 0.1,
    "L_RealEstateActivities": 0.1,
    "M_ProfessionalScientificAndTechnicalActivities": 0.1,
    "N_AdministrativeAndSupportServiceActivities": 1.0,
    "O_PublicAdministrationAndDefence": 0.1,
    "P_Education": 0.1,
    "Q_HumanHealthAndSocialWorkActivities": 0.5,
    "R_ArtsEntertainmentAndRecreation": 1.0,
    "S_OtherServiceActivities": 4.0,
    "T_ActivitiesOfHouseholdsAsEmployers": 22.0,
    "U_ActivitiesOfExtraterritorialOrganizations": 0.1,
}

HTCDS_TYPE_OF_SEX_EXPLOITATION: dict[str, float] = {
    "Prostitution": 0.85,
    "Pornography": 0.10,
    "RemoteInteractiveServices": 0.05,
    "PrivateSexualServices": 0.10,
}

# The agency's custom multi-select field.
HTCDS_RECRUITER_RELATIONSHIP: dict[str, float] = {
    "IntimatePartner": 0.10,
    "Friend": 0.35,
    "Family": 0.20,
    "Other": 0.35,
    "Unknown": 0.08,
}

HTCDS_CASE_STATUS: dict[str, float] = {
    "Active": 18.0,
    "FollowUp": 14.0,
    "Closed": 55.0,
    "ClosedReferred": 13.0,
}

CASE_CLOSURE_REASONS: list[str] = [
    "Assistance completed",
    "Lost contact with beneficiary",
    "Beneficiary declined further assistance",
    "Returned to country of origin",
    "Referred to partner organisation",
    "Integrated locally",
]

REFERRING_ORGANISATIONS: list[str] = [
    "National Police",
    "Border Guard Service",
    "Labour Inspectorate",
    "La Strada",
    "Embassy consular section",
    "Shelter network",
    "Women & Children Safe House",
    "Migrant resource centre",
    "Self-referral",
    "Social services",
    "Church-based NGO",
    "Prosecutor's office",
    "Partner IOM mission",
]

# ---------------------------------------------------------------- hotline (Polaris-like)

HOTLINE_GENDER: dict[str, float] = {
    "Female": 76.0,
    "Male": 16.0,
    "Trans woman": 0.9,
    "Trans man": 0.3,
    "Gender non-conforming": 0.3,
    "Unknown": 6.5,
}

HOTLINE_TRAFFICKING_TYPE: dict[str, float] = {
    "Sex": 70.0,
    "Labor": 16.0,
    "Sex and Labor": 5.0,
    "Other": 2.0,
    "Unknown": 7.0,
}

HOTLINE_INDUSTRY: dict[str, dict[str, float]] = {
    "Sex": {
        "Commercial Sex - Escort Services": 24.0,
        "Commercial Sex - Illicit Massage": 14.0,
        "Commercial Sex - Residence-based": 14.0,
        "Commercial Sex - Pornography": 5.0,
        "Commercial Sex - Remote Interactive Sexual Acts": 4.0,
        "Commercial Sex - Bar/Strip Club/Cantina": 8.0,
        "Hospitality": 3.0,
        "Other": 3.0,
        "Not specified": 25.0,
    },
    "Labor": {
        "Agriculture/Farms/Animal Husbandry": 17.0,
        "Domestic Work": 20.0,
        "Restaurant/Food Service": 11.0,
        "Construction": 8.0,
        "Traveling Sales Crews": 7.0,
        "Illicit Activities": 6.0,
        "Health & Beauty Services": 8.0,
        "Peddling & Itinerant Sales": 5.0,
        "Factories/Manufacturing": 5.0,
        "Hospitality": 4.0,
        "Begging": 1.0,
        "Landscaping": 3.0,
        "Other": 2.0,
        "Not specified": 3.0,
    },
    "Sex and Labor": {
        "Commercial Sex - Illicit Massage": 30.0,
        "Commercial Sex - Bar/Strip Club/Cantina": 25.0,
        "Health & Beauty Services": 15.0,
        "Domestic Work": 10.0,
        "Restaurant/Food Service": 10.0,
        "Not specified": 10.0,
    },
    "Other": {"Other": 60.0, "Not specified": 40.0},
    "Unknown": {"Not specified": 100.0},
}

# Labels joined by `|`, recorded only when the caller mentioned them.
HOTLINE_MEANS_OF_CONTROL: dict[str, float] = {
    "Induced Debt": 0.14,
    "Withholds Earnings": 0.25,
    "Restricts Access to Finances": 0.06,
    "Threats to Harm": 0.30,
    "Emotional Abuse": 0.40,
    "Physical Abuse": 0.28,
    "Sexual Abuse": 0.15,
    "False Promises": 0.18,
    "Induced/Exploited Substance Abuse": 0.14,
    "Isolation/Confinement": 0.22,
    "Denied Medical Care": 0.05,
    "Excessive Working Hours": 0.08,
    "Threats Against Children/Family": 0.05,
    "Threats to Report to Immigration/Law Enforcement": 0.07,
    "Withholds Necessities": 0.06,
    "Confiscated Documents": 0.07,
    "Monitoring": 0.10,
}
# The CTDC means-of-control label each hotline label corresponds to (a hint for the
# crosswalk author; the generator does not use it).
HOTLINE_MEANS_TO_CTDC: dict[str, str] = {
    "Induced Debt": "Debt bondage",
    "Withholds Earnings": "Takes earnings",
    "Restricts Access to Finances": "Restricts financial access",
    "Threats to Harm": "Threats",
    "Emotional Abuse": "Psychological abuse",
    "Physical Abuse": "Physical abuse",
    "Sexual Abuse": "Sexual abuse",
    "False Promises": "False promises",
    "Induced/Exploited Substance Abuse": "Psychoactive substances",
    "Isolation/Confinement": "Restricts movement",
    "Denied Medical Care": "Restricts medical care",
    "Excessive Working Hours": "Excessive working hours",
    "Threats Against Children/Family": "Uses children",
    "Threats to Report to Immigration/Law Enforcement": "Threat of law enforcement",
    "Withholds Necessities": "Withholds necessities",
    "Confiscated Documents": "Withholds documents",
    "Monitoring": "Other",
}

HOTLINE_RECRUITER_RELATION: dict[str, float] = {
    "Intimate partner": 20.0,
    "Family member": 14.0,
    "Friend": 5.0,
    "Employer": 10.0,
    "Smuggler": 2.0,
    "Other": 6.0,
    "": 43.0,
}

# Age ranges the hotline records when only an estimate was given.
HOTLINE_AGE_RANGES: list[str] = ["13-17", "18-24", "25-34", "35-44", "45+"]

US_STATES: dict[str, float] = {
    "CA": 14.0, "TX": 10.0, "FL": 8.0, "NY": 6.0, "GA": 4.0, "OH": 3.5, "NC": 3.5,
    "MI": 3.0, "IL": 3.0, "NV": 3.0, "PA": 3.0, "NJ": 2.5, "VA": 2.5, "AZ": 2.5,
    "WA": 2.0, "MD": 2.0, "TN": 2.0, "MO": 1.8, "IN": 1.6, "CO": 1.6, "LA": 1.5,
    "MA": 1.5, "OK": 1.2, "SC": 1.2, "MN": 1.2, "OR": 1.1, "AL": 1.1, "KY": 1.0,
    "WI": 1.0, "UT": 0.8, "AR": 0.7, "KS": 0.7, "MS": 0.7, "CT": 0.7, "IA": 0.6,
    "NM": 0.6, "NE": 0.5, "HI": 0.5, "DC": 0.5, "WV": 0.4, "ID": 0.3, "NH": 0.3,
    "ME": 0.3, "RI": 0.3, "DE": 0.3, "MT": 0.2, "SD": 0.2, "ND": 0.2, "AK": 0.2,
    "WY": 0.1, "VT": 0.1, "PR": 0.3,
}  # fmt: skip

# ---------------------------------------------------------------- ngo_network (Asia NGO)

NGO_SEX: dict[str, float] = {
    "M": 38.0,
    "F": 30.0,
    "male": 6.0,
    "female": 6.0,
    "Male": 8.0,
    "Female": 6.0,
    "X": 0.5,
}

NGO_TYPES: dict[str, dict[str, float]] = {
    "female": {
        "forced labour": 35.0,
        "sexual exploitation": 40.0,
        "forced marriage": 10.0,
        "domestic servitude": 8.0,
        "forced begging": 1.0,
        "forced criminality": 1.0,
        "organ removal": 0.2,
        "other": 4.8,
    },
    "male": {
        "forced labour": 88.0,
        "sexual exploitation": 2.0,
        "forced begging": 2.0,
        "forced criminality": 3.0,
        "organ removal": 0.3,
        "domestic servitude": 1.0,
        "other": 3.7,
    },
}
NGO_LABOUR_TYPES = frozenset({"forced labour", "domestic servitude", "forced begging"})

NGO_SECTORS: dict[str, float] = {
    "fishing": 30.0,
    "domestic work": 15.0,
    "construction": 10.0,
    "agriculture": 9.0,
    "manufacturing": 9.0,
    "seafood processing": 6.0,
    "hospitality": 5.0,
    "entertainment": 4.0,
    "aquaculture": 3.0,
    "begging": 2.0,
    "mining": 2.0,
    "transportation": 1.5,
    "peddling": 1.5,
    "online scam compound": 2.0,
    "other": 2.0,
}

NGO_MEANS_OF_CONTROL: dict[str, float] = {
    "debt bondage": 0.45,
    "withholding documents": 0.40,
    "withholding wages": 0.45,
    "threats": 0.35,
    "physical abuse": 0.30,
    "sexual abuse": 0.08,
    "psychological abuse": 0.25,
    "restricted movement": 0.40,
    "excessive working hours": 0.35,
    "false promises": 0.35,
    "drugs": 0.05,
    "denied medical care": 0.10,
    "withholding food": 0.10,
    "threats to family": 0.06,
    "threat of arrest": 0.12,
}

NGO_RECRUITER_TYPES: dict[str, float] = {
    "broker": 0.40,
    "employer": 0.20,
    "agent": 0.10,
    "family": 0.10,
    "friend": 0.15,
    "intimate partner": 0.04,
    "neighbour": 0.03,
    "unknown": 0.05,
}

# ---------------------------------------------------------------- age bands (the standard's)

AGE_BANDS: list[tuple[int, int]] = [
    (0, 8),
    (9, 17),
    (18, 20),
    (21, 23),
    (24, 26),
    (27, 29),
    (30, 38),
    (39, 47),
    (48, 70),
]
AGE_BAND_WEIGHTS: dict[str, list[float]] = {
    "case_agency": [3.0, 20.0, 15.0, 13.0, 10.0, 8.0, 18.0, 8.0, 5.0],
    "hotline": [2.0, 29.0, 17.0, 12.0, 10.0, 8.0, 14.0, 5.0, 3.0],
    "ngo_network": [1.0, 12.0, 12.0, 12.0, 12.0, 10.0, 24.0, 12.0, 5.0],
}
