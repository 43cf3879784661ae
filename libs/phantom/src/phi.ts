/**
 * Realistic but entirely fictitious PHI, planted by `generatePhantomStudy({ withPhi: true })` so the
 * de-identification tests have something to remove. Every value is derived from the seed; none
 * refers to a real person. Non-ASCII characters are included on purpose (files are written as
 * ISO_IR 192 / UTF-8) so de-id tests also search the UTF-8 encodings.
 */
const FAMILY = ['Müller', 'Okonkwo', 'Lindqvist', 'Fernández', 'Nakamura', 'Kowalski', 'Dubois', 'Haddad', 'Ivanova', 'Smythe'];
const GIVEN = ['Johanna', 'Tobias', 'Amara', 'Sören', 'Lucía', 'Kenji', 'Marek', 'Élodie', 'Yusuf', 'Priya'];
const STREETS = ['Lindenstraße', 'Rue des Écoles', 'Maple Avenue', 'Calle Mayor', 'Sakura-dori'];
const CITIES = ['Heidelberg', 'Lyon', 'Springfield', 'Zaragoza', 'Osaka'];
const HOSPITALS = ['St. Walburga Cancer Centre', 'Hôpital Saint-Exupéry', 'Riverside Oncology Institute', 'Clínica del Norte'];
const DOCTORS = ['Brandt^Konrad^^Dr.', 'Aalto^Mikaela^^Dr.', 'Osei^Kwame^^Dr.', 'Renard^Camille^^Dr.', 'Tanaka^Hiro^^Dr.'];

export interface PlantedPhi {
  patientName: string;
  otherPatientName: string;
  birthName: string;
  motherBirthName: string;
  patientId: string;
  otherPatientId: string;
  issuerOfPatientId: string;
  medicalRecordLocator: string;
  birthDate: string; // YYYYMMDD
  birthTime: string;
  sex: 'F' | 'M';
  address: string;
  telephone: string;
  ethnicGroup: string;
  occupation: string;
  weightKg: string;
  sizeM: string;
  patientComments: string;
  additionalHistory: string;
  admittingDiagnoses: string;
  institution: string;
  institutionAddress: string;
  department: string;
  referringPhysician: string;
  performingPhysician: string;
  readingPhysician: string;
  operator: string;
  physicianOfRecord: string;
  requestingPhysician: string;
  stationName: string;
  deviceSerial: string;
  /** Private creator and private values (group 0009; group 0041 inside a sequence). */
  privateCreator: string;
  privateText: string;
}

export function makePhi(rand: () => number, subjectIndex: number): PlantedPhi {
  const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)];
  const digits = (n: number): string => Array.from({ length: n }, () => Math.floor(rand() * 10)).join('');
  const family = pick(FAMILY);
  const given = pick(GIVEN);
  const year = 1940 + Math.floor(rand() * 35);
  const month = 1 + Math.floor(rand() * 12);
  const day = 1 + Math.floor(rand() * 28);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const city = pick(CITIES);
  const hospital = pick(HOSPITALS);
  const mrn = `MRN${digits(7)}${subjectIndex}`;
  return {
    patientName: `${family}^${given}^Q^^`,
    otherPatientName: `${family}-${pick(FAMILY)}^${given}`,
    birthName: `${pick(FAMILY)}^${given}`,
    motherBirthName: `${pick(FAMILY)}^${pick(GIVEN)}`,
    patientId: mrn,
    otherPatientId: `NHS${digits(9)}`,
    issuerOfPatientId: `${hospital} Registry`,
    medicalRecordLocator: `Archive box ${digits(5)} ${city}`,
    birthDate: `${year}${p2(month)}${p2(day)}`,
    birthTime: `0${Math.floor(rand() * 9)}${p2(Math.floor(rand() * 60))}00`,
    sex: rand() < 0.5 ? 'F' : 'M',
    address: `${Math.floor(rand() * 200) + 1} ${pick(STREETS)}, ${city} ${digits(5)}`,
    telephone: `+49 6221 ${digits(6)}`,
    ethnicGroup: 'Sorbian-Wendish',
    occupation: 'Ferry captain',
    weightKg: String(55 + Math.floor(rand() * 40)),
    sizeM: (1.55 + Math.floor(rand() * 40) / 100).toFixed(2),
    patientComments: `Patient ${given} ${family} prefers morning slots; daughter ${pick(GIVEN)} drives.`,
    additionalHistory: `${given} ${family}: prior nephrectomy 2011 at ${hospital}`,
    admittingDiagnoses: `Suspected metastatic disease, ${family} family history`,
    institution: hospital,
    institutionAddress: `${Math.floor(rand() * 90) + 10} Hospital Road, ${city}`,
    department: `Radiology Dept ${pick(['North', 'East', 'Annex'])} ${city}`,
    referringPhysician: pick(DOCTORS),
    performingPhysician: pick(DOCTORS),
    readingPhysician: pick(DOCTORS),
    operator: `Techie^${pick(GIVEN)}`,
    physicianOfRecord: pick(DOCTORS),
    requestingPhysician: pick(DOCTORS),
    stationName: `CTSCAN-${city.toUpperCase().slice(0, 4)}${digits(2)}`,
    deviceSerial: `SN-${digits(8)}`,
    privateCreator: 'ACME PHI TRACKER 1.0',
    privateText: `${family}^${given} MRN ${mrn} ${city}`,
  };
}
