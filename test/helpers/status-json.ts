// The status blob document (azure-protocol.md §6.1) as the tests read it: JSON.parse of an upload, or the
// document buildAggregateStatus returns. Only the fields the tests look at.

export interface FormattedMessageJson {
  lang: string;
  message: string | null;
}

export interface SubStatusJson {
  name: string | null;
  status: string;
  code: number | string;
  formattedMessage: FormattedMessageJson;
}

/** runtimeSettingsStatus.settingsStatus.status: one extension's status. */
export interface SettingsStatusJson {
  name: string;
  configurationAppliedTime: string | null;
  operation: string | null;
  status: string;
  code: number | string;
  formattedMessage: FormattedMessageJson;
  substatus: SubStatusJson[];
}

export interface RuntimeSettingsStatusJson {
  settingsStatus: {
    status: SettingsStatusJson;
    /** 1.0: a number once parsed, a PyFloat in the built document. */
    version: unknown;
    timestampUTC: string;
  };
  sequenceNumber: number;
  /** Multi-config handlers only. */
  extensionName?: string;
}

/** One entry of aggregateStatus.handlerAggregateStatus. */
export interface HandlerEntryJson {
  handlerVersion: string;
  handlerName: string;
  status: string;
  code: number;
  useExactVersion: boolean;
  /** Absent when the handler has no message; the tests read it where it is sent. */
  formattedMessage: FormattedMessageJson;
  /** Absent when the handler has no extension status; the tests read it where it is sent. */
  runtimeSettingsStatus: RuntimeSettingsStatusJson;
}

export interface GoalStateStatusJson {
  formattedMessage: FormattedMessageJson;
  timestampUTC: string;
  inSvdSeqNo: string;
  status: string;
  code: number;
}

/** The whole uploaded document. */
export interface StatusBlobJson {
  version: string;
  timestampUTC: string;
  aggregateStatus: {
    guestAgentStatus: { status: string; formattedMessage: FormattedMessageJson };
    handlerAggregateStatus: HandlerEntryJson[];
    /** Absent until a goal state was executed; the tests read it where it is sent. */
    vmArtifactsAggregateStatus: { goalStateAggregateStatus: GoalStateStatusJson };
  };
  guestOSInfo: { computerName: string; osName: string; osVersion: string; version: string };
  supportedFeatures?: { Key: string; Value: string }[];
}
